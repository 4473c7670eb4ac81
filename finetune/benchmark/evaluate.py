"""Judge every score over the targets: per-target ranking statistics (finetune/evaluation.py), their means
with a bootstrap over episodes, and the leave-one-target-out prior and mix rows (finetune/benchmark/mix.py).
"""
from __future__ import annotations


import numpy as np
from scipy import stats

from finetune.benchmark.mix import model_free_names, with_mix, with_prior
from finetune.benchmark.ground_truth import Protocol
from finetune.benchmark.results import TargetRun
from finetune.evaluation import (
    distinguishable,
    kendall_tau_b,
    mean_ci,
    pearson,
    ranking_metrics,
    tau_or_zero,
    weighted_tau_rows,
)
from finetune.transfer.adapted import BASELINE


def evaluate(runs: list[TargetRun], protocol: Protocol, bootstrap: int = 1000, seed: int = 0,
             alpha: float = 0.05, candidates=None) -> dict:
    """Per-target and summary evaluation of every score under one protocol (stage-1 top blocks, ground truth)."""
    top_blocks = protocol.top_blocks
    mix = {}
    if len(runs) > 1:
        runs = with_prior(runs, protocol)
    if len(runs) > 2 and all(model_free_names(r, top_blocks) for r in runs):
        runs, mix = with_mix(runs, protocol, candidates)
    targets = {}
    for run in runs:
        measured = run.accuracy[protocol]
        (base_mean, mean), (base_half, half) = (np.split(v, [1]) for v in mean_ci(measured.rows()))
        diff_mean, diff_half = mean_ci(measured.sources - measured.baseline)
        ok, p, test = distinguishable(measured.sources, alpha)
        scores = run.scores[top_blocks]
        per_score = {name: ranking_metrics(values, mean) for name, values in scores.items()}
        targets[run.target] = {
            "discriminates": ok, "friedman_p": p, "test": test, "n_episodes": measured.n_episodes,
            "accuracy": {BASELINE: float(base_mean[0]), **{s: float(m) for s, m in zip(run.sources, mean)}},
            "ci95": {BASELINE: float(base_half[0]), **{s: float(h) for s, h in zip(run.sources, half)}},
            "gain_over_imagenet": {s: float(d) for s, d in zip(run.sources, diff_mean)},
            "gain_ci95": {s: float(h) for s, h in zip(run.sources, diff_half)},
            "spread_points": float(100 * np.ptp(mean)),
            "best_source": run.sources[int(np.argmax(mean))],
            "any_source_beats_imagenet": bool(np.any(diff_mean - diff_half > 0)),
            "scores": {name: {s: float(v) for s, v in zip(run.sources, values)} for name, values in scores.items()},
            **{metric: {name: m[metric] for name, m in per_score.items()}
               for metric in ("weighted_tau", "kendall_tau", "pearson", "top1_relative_accuracy", "top1_regret")},
        }
    counted = [r for r in runs if targets[r.target]["discriminates"]]
    names = sorted({n for r in runs for n in r.scores[top_blocks]})
    summary = {}
    boot = _bootstrap(counted, protocol, names, bootstrap, seed)
    for name in names:
        entry = {"n_targets": len(counted)}
        for metric in ("weighted_tau", "kendall_tau", "pearson", "top1_relative_accuracy", "top1_regret"):
            values = [targets[r.target][metric][name] for r in counted if name in r.scores[top_blocks]]
            entry[f"mean_{metric}"] = float(np.mean(values)) if values else float("nan")
            if name in boot and len(values):
                lo, hi = np.percentile(boot[name][metric], [2.5, 97.5])
                entry[f"{metric}_ci95"] = [float(lo), float(hi)]
        entry["ci95"] = entry.get("weighted_tau_ci95", [float("nan")] * 2)
        summary[name] = entry
    return {"targets": targets, "summary": summary, "mix": mix,
            "excluded_targets": [r.target for r in runs if not targets[r.target]["discriminates"]]}


def _bootstrap(runs: list[TargetRun], protocol: Protocol, names: list[str], n: int, seed: int) -> dict:
    """Bootstrap over episodes: resample each target's episodes (the same columns for all its sources, which
    keeps the pairing), recompute the mean accuracies and every score's metrics, average over targets.
    Every metric is vectorised over resamples (weighted tau by `weighted_tau_rows`, equal to SciPy's)."""
    if not runs or n < 1:
        return {}
    rng = np.random.default_rng(seed)
    metrics = ("weighted_tau", "kendall_tau", "pearson", "top1_relative_accuracy", "top1_regret")
    per_target = {name: {m: [] for m in metrics} for name in names}
    for run in runs:
        acc = run.accuracy[protocol].sources
        columns = rng.integers(0, acc.shape[1], (n, acc.shape[1]))
        means = np.stack([acc[:, c].mean(axis=1) for c in columns])  # (n, sources)
        best = means.max(axis=1)
        for name, values in run.scores[protocol.top_blocks].items():
            values = np.asarray(values, float)
            constant = np.ptp(values) == 0
            pick = means[:, int(np.argmax(values))]
            out = per_target[name]
            out["kendall_tau"].append(np.zeros(n) if constant else kendall_tau_b(values, means))
            out["pearson"].append(np.zeros(n) if constant else pearson(values, means))
            out["top1_relative_accuracy"].append(np.where(best > 0, pick / np.where(best > 0, best, 1), 0.0))
            out["top1_regret"].append(100 * (best - pick))
            tau = np.zeros(n) if constant else weighted_tau_rows(values, means)
            out["weighted_tau"].append(np.where(np.isfinite(tau), tau, 0.0))  # tau_or_zero, per resample
    return {name: {m: np.mean(v, axis=0) for m, v in per_target[name].items() if v} for name in names}


def order_agreement(runs: list[TargetRun], a: Protocol, b: Protocol) -> dict:
    """Kendall tau between the sources' mean accuracies under two protocols, per target."""
    out = {}
    for run in runs:
        x = run.accuracy[a].sources.mean(axis=1)
        y = run.accuracy[b].sources.mean(axis=1)
        out[run.target] = tau_or_zero(stats.kendalltau(x, y).statistic) if len(x) > 1 else float("nan")
    return out
