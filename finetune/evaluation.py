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
        "top1_regret": float(100 * (mean.max() - mean[recommended])),  # accuracy points, as everywhere
        "spread": float(mean.max() - mean.min()),
    }
    if acc.shape[1] >= 2 and not np.all(acc.var(axis=1) == 0):
        # Seed noise: the pooled within-source standard deviation; signal: does source explain accuracy (ANOVA)?
        scores["seed_noise_std"] = float(np.sqrt(acc.var(axis=1, ddof=1).mean()))
        anova = stats.f_oneway(*acc) if np.ptp(acc) > 0 else None
        scores["anova_p"] = float(anova.pvalue) if anova is not None and np.isfinite(anova.pvalue) else 1.0
        scores["discriminates"] = bool(scores["anova_p"] < 0.05)
    else:
        # One seed, or seeds that all gave the same accuracy (e.g. finetune.seeds=[0,0]): nothing measures the
        # noise, so no test of significance is possible (an ANOVA would report p = 0).
        scores.update(seed_noise_std=float("nan"), anova_p=float("nan"), discriminates=False, replicated=False)
    return scores


def weighted_tau_rows(score, accuracies) -> np.ndarray:
    """`scipy.stats.weightedtau(score, row)` for every row of `accuracies` (B, n) at once, for the bootstrap.

    The weighted Kendall tau of Vigna (WWW 2015, "A weighted correlation index for rankings with ties") with
    SciPy's defaults (hyperbolic weigher 1/(r + 1), additive pair weights, rank=True):

        tau_r = sum_{i<j} w_ij s^x_ij s^y_ij / sqrt(sum_{i<j} w_ij |s^x_ij|) / sqrt(sum_{i<j} w_ij |s^y_ij|),
        w_ij = 1/(r_i + 1) + 1/(r_j + 1),  s^x_ij = sign(x_i - x_j),

    where r is the position in decreasing lexicographic order of (x, y) (ties: later index first, as
    np.lexsort orders them), and tau is the mean of tau_r over that rank and the one of (y, x).
    NaN where a side is constant, as SciPy gives."""
    x = np.asarray(score, float)
    y = np.atleast_2d(np.asarray(accuracies, float))
    rows, n = y.shape
    xs = np.broadcast_to(x, y.shape)
    upper = np.triu(np.ones((n, n), bool), 1)
    sx = np.sign(x[:, None] - x[None, :])[None] * upper
    sy = np.sign(y[:, :, None] - y[:, None, :]) * upper
    taus = []
    for major, minor in ((xs, y), (y, xs)):
        order = np.lexsort((minor, major), axis=-1)[:, ::-1]  # decreasing (major, minor)
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(n)[None].repeat(rows, 0), axis=1)
        w = 1.0 / (rank + 1.0)
        pair = w[:, :, None] + w[:, None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            taus.append(np.sum(pair * sx * sy, axis=(1, 2))
                        / np.sqrt(np.sum(pair * np.abs(sx), axis=(1, 2)))
                        / np.sqrt(np.sum(pair * np.abs(sy), axis=(1, 2))))
    return (taus[0] + taus[1]) / 2


# ----------------------------------------------------------------------------------------------- evaluation


def tau_or_zero(value: float) -> float:
    # A score that is constant over the sources ranks nothing: no information, tau 0 (not NaN, which would
    # silently drop it from a mean).
    """A correlation, with NaN (a constant side) read as 0."""
    return 0.0 if not np.isfinite(value) else float(value)


def ranking_metrics(score, mean_accuracy) -> dict:
    """How well `score` (higher = predicted better) orders sources with these mean accuracies (0..1)."""
    s = np.asarray(score, float)
    acc = np.asarray(mean_accuracy, float)
    pick = int(np.argmax(s))
    with np.errstate(invalid="ignore", divide="ignore"):
        constant = np.ptp(s) == 0 or np.ptp(acc) == 0
        return {
            "kendall_tau": 0.0 if constant else tau_or_zero(stats.kendalltau(s, acc).statistic),
            "weighted_tau": 0.0 if constant else tau_or_zero(stats.weightedtau(s, acc).statistic),
            "pearson": 0.0 if constant else tau_or_zero(stats.pearsonr(s, acc).statistic),
            "top1_relative_accuracy": float(acc[pick] / acc.max()) if acc.max() > 0 else 0.0,
            "top1_regret": float(100 * (acc.max() - acc[pick])),
        }


def distinguishable(sources: np.ndarray, alpha: float = 0.05) -> tuple[bool, float, str]:
    """Do the sources (one row each, columns = paired episodes; the ImageNet network is not among them) differ?

    Friedman's test (rank-based repeated-measures ANOVA) over episodes as blocks; with two sources, the
    Wilcoxon signed-rank test. Returns (p < alpha, p, test name)."""
    rows = np.asarray(sources, float)
    if rows.shape[0] < 2 or rows.shape[1] < 2 or np.ptp(rows) == 0:
        return False, 1.0, "none (too few sources or episodes, or all equal)"
    if rows.shape[0] == 2:
        diff = rows[0] - rows[1]
        p = 1.0 if np.all(diff == 0) else float(stats.wilcoxon(rows[0], rows[1]).pvalue)
        return p < alpha, p, "Wilcoxon signed-rank over episodes"
    with np.errstate(invalid="ignore", divide="ignore"):
        p = float(stats.friedmanchisquare(*rows).pvalue)
    p = 1.0 if not np.isfinite(p) else p  # every episode ties all sources: nothing to tell apart
    return p < alpha, p, "Friedman test over episodes"


def mean_ci(values, axis=-1) -> tuple[np.ndarray, np.ndarray]:
    """Mean and half-width of the 95% Student-t interval over `axis` (episodes or seeds)."""
    v = np.asarray(values, float)
    n = v.shape[axis]
    mean = v.mean(axis=axis)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    half = stats.t.ppf(0.975, n - 1) * v.std(axis=axis, ddof=1) / np.sqrt(n)
    return mean, half


def kendall_tau_b(score: np.ndarray, accuracies: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of `score` (S,) against each row of `accuracies` (B, S), vectorised over rows (the same
    value as scipy.stats.kendalltau; 0 where either side is constant)."""
    i, j = np.triu_indices(len(score), k=1)
    ds = np.sign(score[i] - score[j])
    da = np.sign(accuracies[:, i] - accuracies[:, j])
    concordance = (ds * da).sum(axis=1)
    denominator = np.sqrt(np.count_nonzero(ds) * np.count_nonzero(da, axis=1).astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, concordance / np.where(denominator > 0, denominator, 1), 0.0)


def pearson(score: np.ndarray, accuracies: np.ndarray) -> np.ndarray:
    """Pearson's r between `score` and every row of `accuracies` at once (0 where a side is constant)."""
    s = score - score.mean()
    a = accuracies - accuracies.mean(axis=1, keepdims=True)
    denominator = np.sqrt((s**2).sum() * (a**2).sum(axis=1))
    return np.where(denominator > 0, a @ s / np.where(denominator > 0, denominator, 1), 0.0)


