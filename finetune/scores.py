"""How well similarity predicts transfer accuracy: rank correlations, regret, and signal versus seed noise."""
from __future__ import annotations

import numpy as np
from scipy import stats


def ranking_scores(similarity, accuracies) -> dict:
    """Scores of a ranking, given each source's similarity and its per-seed target accuracies.

    similarity: (n_sources,); accuracies: (n_sources, n_seeds). The recommended source is the most similar.
    """
    sim = np.asarray(similarity, float)
    acc = np.asarray(accuracies, float)
    if acc.ndim != 2 or acc.shape[0] != sim.shape[0] or sim.shape[0] < 2:
        raise ValueError(f"need accuracies of shape (n_sources >= 2, n_seeds); got {acc.shape} for {sim.shape}.")
    mean = acc.mean(axis=1)
    rho = stats.spearmanr(sim, mean)
    tau = stats.kendalltau(sim, mean)
    weighted = stats.weightedtau(sim, mean)
    recommended = int(np.argmax(sim))
    scores = {
        "spearman_rho": float(rho.statistic), "spearman_p": float(rho.pvalue),
        "kendall_tau": float(tau.statistic), "kendall_p": float(tau.pvalue),
        "weighted_tau": float(weighted.statistic),
        "recommended_index": recommended, "best_index": int(np.argmax(mean)),
        "top1_regret": float(mean.max() - mean[recommended]),
        "spread": float(mean.max() - mean.min()),
    }
    if acc.shape[1] >= 2:
        # Seed noise: the pooled within-source standard deviation; signal: does source explain accuracy (ANOVA)?
        scores["seed_noise_std"] = float(np.sqrt(acc.var(axis=1, ddof=1).mean()))
        anova = stats.f_oneway(*acc) if np.ptp(acc) > 0 else None
        scores["anova_p"] = float(anova.pvalue) if anova is not None and np.isfinite(anova.pvalue) else 1.0
        scores["discriminates"] = bool(scores["anova_p"] < 0.05)
    else:
        scores.update(seed_noise_std=float("nan"), anova_p=float("nan"), discriminates=False)
    return scores
