"""Metric learning: a triplet-loss embedding head on a transferred network's features."""
