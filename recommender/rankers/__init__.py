"""Rankers: what orders the candidate sources, and the statistics that judge an order.

`statistics` owns the ranking statistics (weighted Kendall tau, z-scores over a target's sources, decision
regret in accuracy points); `gain` owns the gain model, which predicts each source's accuracy gain over the
ImageNet network on *this* target, with a calibrated interval (docs/gain.md).
"""
