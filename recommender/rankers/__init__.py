"""Rankers: what orders the candidate sources, and the statistics that judge an order.

`base` is the one concept (`Ranker`: `__init__` stores, `fit(evidence, held_out)` learns, `score(target, sources)`
answers, higher is better) and the one way a ranker is found (`build_ranker`); `prior` owns the catalog prior and
the rule for a source it never measured, and prior_score; `mix` owns the prior + distance mix (`PriorMix`);
`gain` owns the gain model, which predicts each source's accuracy gain over the ImageNet network on *this* target,
with a calibrated interval (docs/gain/gain.md); `statistics` owns the ranking statistics (weighted Kendall tau,
z-scores over a target's sources, decision regret in accuracy points). The benchmark, the studies and `recommend`
call these, never a copy.
"""
