"""The transfer benchmark: does a score predict which source transfers best? Measured, with intervals.

For every target and every candidate source, the ground truth is the accuracy of the source-adapted network
on the target (paired few-shot episodes by default, see `fewshot.py`; or stage-2 fine-tuning over seeds), next
to the ImageNet network's on the same episodes. Every transferability score (model-free distances computed by
the recommender, model-based scores on the stage-1 networks, naive baselines) is then judged per target by how
well it orders the sources (Kendall tau, weighted tau, Pearson, top-1 relative accuracy and regret), and over
targets with a bootstrap over episodes.

Data flow: datasets -> stage-1 checkpoints (cached, shared by all targets) -> the target's images through each
source network (cached) -> episodes -> accuracies; scores -> evaluation -> report.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import math
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf
from scipy import stats

from recommender import (DatasetError, ImageList, backbone_spec, dataset_features, dataset_features_together,
                         make_extractor, open_dataset, recommend, same_dataset)
from recommender.api import canonical_ref
from recommender.datasets import catalog_sources
from recommender.config import CONF_DIR
from recommender.evidence import fold, load_evidence, loto_prior, prior_score, prior_score_evidence
from recommender.logs import Steps
from recommender.cache import read_json, read_npz, write_json, write_npz

from .fewshot import draw_episodes, episode_accuracies, pool_labels, refuse_k_beyond_the_pool
from .mix import MIX, WEIGHTS, fit, gains, loto_scores, mixed_score
from .scores import weighted_tau_rows
from .transferability import REGISTRY

log = logging.getLogger(__name__)
BASELINE = "imagenet"
FORMAT = 1  # bump when what a cached target run holds changes
NAIVE = ("source_images", "source_classes", "random")
REFERENCE_DISTANCE = "class_mean_emd"  # the recommender's original ranking, what every score is compared with


def protocol_label(top_blocks: int, k) -> str:
    return f"top{int(top_blocks)}/{'finetune' if str(k) == 'finetune' else f'k{k}'}"


@dataclass
class TargetRun:
    """Everything measured for one target: accuracies per protocol and scores per stage-1 protocol.

    accuracy[top_blocks][k]: (1 + n_sources, n_episodes), row 0 the ImageNet network, then `sources` in order;
    the same episodes (columns) for every row. scores[top_blocks][score]: one value per source."""

    target: str
    sources: list[str]
    accuracy: dict[int, dict[str, np.ndarray]]
    scores: dict[int, dict[str, np.ndarray]]
    n_pool: int = 0
    n_test: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"target": self.target, "sources": self.sources, "n_pool": self.n_pool, "n_test": self.n_test,
                "seconds": self.seconds,
                "accuracy": {str(b): {str(k): a.tolist() for k, a in ks.items()} for b, ks in self.accuracy.items()},
                "scores": {str(b): {s: v.tolist() for s, v in sc.items()} for b, sc in self.scores.items()}}

    @classmethod
    def from_json(cls, d: dict) -> "TargetRun":
        return cls(target=d["target"], sources=list(d["sources"]), n_pool=d["n_pool"], n_test=d["n_test"],
                   seconds=d["seconds"],
                   accuracy={int(b): {str(k): np.asarray(a, float) for k, a in ks.items()}
                             for b, ks in d["accuracy"].items()},
                   scores={int(b): {s: np.asarray(v, float) for s, v in sc.items()} for b, sc in d["scores"].items()})


# ----------------------------------------------------------------------------------------------- evaluation


def _tau_or_zero(value: float) -> float:
    # A score that is constant over the sources ranks nothing: no information, tau 0 (not NaN, which would
    # silently drop it from a mean).
    return 0.0 if not np.isfinite(value) else float(value)


def ranking_metrics(score, mean_accuracy) -> dict:
    """How well `score` (higher = predicted better) orders sources with these mean accuracies (0..1)."""
    s = np.asarray(score, float)
    acc = np.asarray(mean_accuracy, float)
    pick = int(np.argmax(s))
    with np.errstate(invalid="ignore", divide="ignore"):
        constant = np.ptp(s) == 0 or np.ptp(acc) == 0
        return {
            "kendall_tau": 0.0 if constant else _tau_or_zero(stats.kendalltau(s, acc).statistic),
            "weighted_tau": 0.0 if constant else _tau_or_zero(stats.weightedtau(s, acc).statistic),
            "pearson": 0.0 if constant else _tau_or_zero(stats.pearsonr(s, acc).statistic),
            "top1_relative_accuracy": float(acc[pick] / acc.max()) if acc.max() > 0 else 0.0,
            "top1_regret": float(100 * (acc.max() - acc[pick])),
        }


def distinguishable(accuracy: np.ndarray, alpha: float = 0.05) -> tuple[bool, float, str]:
    """Do the sources (rows 1.. of `accuracy`, columns = paired episodes) differ at all?

    Friedman's test (rank-based repeated-measures ANOVA) over episodes as blocks; with two sources, the
    Wilcoxon signed-rank test. Returns (p < alpha, p, test name)."""
    rows = np.asarray(accuracy, float)[1:]
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


PRIOR = "source_prior_loto"


def source_prior(runs: list[TargetRun], top_blocks: int, k: str, held_out: str) -> dict[str, float]:
    """Each source's mean gain over the ImageNet network on the *other* targets (leave-one-target-out): the
    per-source main effect of transfer, learned without looking at the target being scored. The prior itself is
    `recommender.evidence.loto_prior`'s, which the recommender reads from the evidence: one owner."""
    gains = {}
    for run in runs:
        mean = run.accuracy[top_blocks][str(k)].mean(axis=1)
        gains[run.target] = {source: float(m - mean[0]) for source, m in zip(run.sources, mean[1:])}
    return loto_prior(gains, {held_out})


def with_prior(runs: list[TargetRun], top_blocks: int, k: str) -> list[TargetRun]:
    """The runs with the leave-one-target-out source prior added to each target's scores (0 for a source no
    other target has measured: the prior knows nothing about it)."""
    out = []
    for run in runs:
        prior = source_prior(runs, top_blocks, k, run.target)
        scores = {b: dict(sc) for b, sc in run.scores.items()}
        scores[top_blocks][PRIOR] = np.array([prior.get(s, 0.0) for s in run.sources])
        out.append(TargetRun(run.target, run.sources, run.accuracy, scores, run.n_pool, run.n_test, run.seconds))
    return out


SHIPPED_PRIOR_SCORE = "prior_score"  # recommend's default (conf/distance/prior_score.yaml), from the evidence
DEFAULT = "prior_mix"  # the shipped default ranking (conf/distance/prior_mix.yaml), scored from the shipped evidence


def model_free_names(run: TargetRun, top_blocks: int) -> list[str]:
    return [n for n in run.scores[top_blocks] if n not in REGISTRY and n not in NAIVE
            and n not in (PRIOR, MIX, DEFAULT, SHIPPED_PRIOR_SCORE)]


def with_mix(runs: list[TargetRun], top_blocks: int, k: str, candidates=None) -> tuple[list[TargetRun], dict]:
    """The runs with the nested leave-one-target-out prior + distance mix (finetune/mix.py) added to each
    target's scores, and the fits: one per held-out target, and one on every target (for new targets).
    `candidates`: the distances the mix may use (None: every model-free distance scored)."""
    gain = gains({r.target: (r.sources, r.accuracy[top_blocks][k]) for r in runs})
    names = sorted(set.intersection(*(set(model_free_names(r, top_blocks)) for r in runs)))
    names = [n for n in names if candidates is None or n in candidates]
    distances = {n: {r.target: dict(zip(r.sources, map(float, r.scores[top_blocks][n]))) for r in runs}
                 for n in names}
    scores, folds = loto_scores(gain, distances)
    out = []
    for run in runs:
        new = {b: dict(sc) for b, sc in run.scores.items()}
        new[top_blocks][MIX] = scores[run.target]
        out.append(TargetRun(run.target, run.sources, run.accuracy, new, run.n_pool, run.n_test, run.seconds))
    everything = fit(gain, distances)
    # The prior alone (PRIOR) as a runnable ranking: the same LOTO-chosen distance only breaks its ties and
    # places sources the prior never measured.
    prior_first = {t: {**f, "c": WEIGHTS[0], "mean_weighted_tau": float("nan")} for t, f in folds.items()}
    return out, {"folds": folds, "all_targets": everything, "gains": gain,
                 "prior_folds": prior_first, "prior_all_targets": {**everything, "c": WEIGHTS[0], "mean_weighted_tau": float("nan")},
                 "distances": {n: distances[n] for n in names}}


def with_shipped_default(runs: list[TargetRun], top_blocks: int, evidence: dict | None) -> list[TargetRun]:
    """The runs with the shipped default ranking (catalog evidence: prior + fitted distance mix) as score
    DEFAULT, computed as `recommend distance=prior_mix` would: a catalog target gets the fold that left it out."""
    if not evidence:
        return runs
    out = []
    for run in runs:
        chosen, prior_of = fold(evidence, run.target if run.target in evidence["gains"] else None)
        new = {b: dict(sc) for b, sc in run.scores.items()}
        if chosen["distance"] in new[top_blocks]:
            c = math.inf if chosen["c"] is None else float(chosen["c"])
            new[top_blocks][DEFAULT] = mixed_score(prior_of, run.sources, new[top_blocks][chosen["distance"]], c,
                                                   chosen["sd_prior"], chosen["sd_distance"])
        section = evidence.get("prior_score")
        if section and section["score"] in new[top_blocks] and int(section["top_blocks"]) == top_blocks:
            # recommend's default, exactly as it computes it: the fold's weight, the prior that leaves t out
            w = section["folds"].get(run.target, section["all_targets"])
            new[top_blocks][SHIPPED_PRIOR_SCORE] = prior_score(prior_of, run.sources,
                                                                new[top_blocks][section["score"]], float(w))
        out.append(TargetRun(run.target, run.sources, run.accuracy, new, run.n_pool, run.n_test, run.seconds))
    return out


def shipped_prior_score_of(benchmark: dict, evidence: dict) -> dict[str, dict[str, float]]:
    """target -> source -> recommend's default (prior_score) for every target of a benchmark.json, computed by
    `with_shipped_default` from the LogME values that benchmark measured (no network needed)."""
    section = evidence["prior_score"]
    blocks, name = int(section["top_blocks"]), str(section["score"])
    runs = [TargetRun(t, list(benchmark["sources"][t]), {}, {blocks: {name: np.array(
        [benchmark["targets"][t]["scores"][name][s] for s in benchmark["sources"][t]])}})
        for t in benchmark["targets"]]
    return {r.target: dict(zip(r.sources, map(float, r.scores[blocks][SHIPPED_PRIOR_SCORE])))
            for r in with_shipped_default(runs, blocks, evidence)}


def evaluate(runs: list[TargetRun], top_blocks: int, k: str, bootstrap: int = 1000, seed: int = 0,
             alpha: float = 0.05, candidates=None) -> dict:
    """Per-target and summary evaluation of every score under one protocol (stage-1 top blocks, k)."""
    k = str(k)
    mix = {}
    if len(runs) > 1:
        runs = with_prior(runs, top_blocks, k)
    if len(runs) > 2 and all(model_free_names(r, top_blocks) for r in runs):
        runs, mix = with_mix(runs, top_blocks, k, candidates)
    targets = {}
    for run in runs:
        acc = run.accuracy[top_blocks][k]
        mean, half = mean_ci(acc)
        diff_mean, diff_half = mean_ci(acc[1:] - acc[0])
        ok, p, test = distinguishable(acc, alpha)
        scores = run.scores[top_blocks]
        per_score = {name: ranking_metrics(values, mean[1:]) for name, values in scores.items()}
        targets[run.target] = {
            "discriminates": ok, "friedman_p": p, "test": test, "n_episodes": int(acc.shape[1]),
            "accuracy": {BASELINE: float(mean[0]), **{s: float(m) for s, m in zip(run.sources, mean[1:])}},
            "ci95": {BASELINE: float(half[0]), **{s: float(h) for s, h in zip(run.sources, half[1:])}},
            "gain_over_imagenet": {s: float(d) for s, d in zip(run.sources, diff_mean)},
            "gain_ci95": {s: float(h) for s, h in zip(run.sources, diff_half)},
            "spread_points": float(100 * np.ptp(mean[1:])),
            "best_source": run.sources[int(np.argmax(mean[1:]))],
            "any_source_beats_imagenet": bool(np.any(diff_mean - diff_half > 0)),
            "scores": {name: {s: float(v) for s, v in zip(run.sources, values)} for name, values in scores.items()},
            **{metric: {name: m[metric] for name, m in per_score.items()}
               for metric in ("weighted_tau", "kendall_tau", "pearson", "top1_relative_accuracy", "top1_regret")},
        }
    counted = [r for r in runs if targets[r.target]["discriminates"]]
    names = sorted({n for r in runs for n in r.scores[top_blocks]})
    summary = {}
    boot = _bootstrap(counted, top_blocks, k, names, bootstrap, seed)
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


def _kendall_tau_b(score: np.ndarray, accuracies: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of `score` (S,) against each row of `accuracies` (B, S), vectorised over rows (the same
    value as scipy.stats.kendalltau; 0 where either side is constant)."""
    i, j = np.triu_indices(len(score), k=1)
    ds = np.sign(score[i] - score[j])
    da = np.sign(accuracies[:, i] - accuracies[:, j])
    concordance = (ds * da).sum(axis=1)
    denominator = np.sqrt(np.count_nonzero(ds) * np.count_nonzero(da, axis=1).astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, concordance / np.where(denominator > 0, denominator, 1), 0.0)


def _pearson(score: np.ndarray, accuracies: np.ndarray) -> np.ndarray:
    s = score - score.mean()
    a = accuracies - accuracies.mean(axis=1, keepdims=True)
    denominator = np.sqrt((s**2).sum() * (a**2).sum(axis=1))
    return np.where(denominator > 0, a @ s / np.where(denominator > 0, denominator, 1), 0.0)


def _bootstrap(runs: list[TargetRun], top_blocks: int, k: str, names: list[str], n: int, seed: int) -> dict:
    """Bootstrap over episodes: resample each target's episodes (the same columns for all its sources, which
    keeps the pairing), recompute the mean accuracies and every score's metrics, average over targets.
    Every metric is vectorised over resamples (weighted tau by `weighted_tau_rows`, equal to SciPy's)."""
    if not runs or n < 1:
        return {}
    rng = np.random.default_rng(seed)
    metrics = ("weighted_tau", "kendall_tau", "pearson", "top1_relative_accuracy", "top1_regret")
    per_target = {name: {m: [] for m in metrics} for name in names}
    for run in runs:
        acc = run.accuracy[top_blocks][k][1:]
        columns = rng.integers(0, acc.shape[1], (n, acc.shape[1]))
        means = np.stack([acc[:, c].mean(axis=1) for c in columns])  # (n, sources)
        best = means.max(axis=1)
        for name, values in run.scores[top_blocks].items():
            values = np.asarray(values, float)
            constant = np.ptp(values) == 0
            pick = means[:, int(np.argmax(values))]
            out = per_target[name]
            out["kendall_tau"].append(np.zeros(n) if constant else _kendall_tau_b(values, means))
            out["pearson"].append(np.zeros(n) if constant else _pearson(values, means))
            out["top1_relative_accuracy"].append(np.where(best > 0, pick / np.where(best > 0, best, 1), 0.0))
            out["top1_regret"].append(100 * (best - pick))
            tau = np.zeros(n) if constant else weighted_tau_rows(values, means)
            out["weighted_tau"].append(np.where(np.isfinite(tau), tau, 0.0))  # _tau_or_zero, per resample
    return {name: {m: np.mean(v, axis=0) for m, v in per_target[name].items() if v} for name in names}


def order_agreement(runs: list[TargetRun], a: tuple[int, str], b: tuple[int, str]) -> dict:
    """Kendall tau between the sources' mean accuracies under two protocols, per target."""
    out = {}
    for run in runs:
        x = run.accuracy[a[0]][str(a[1])][1:].mean(axis=1)
        y = run.accuracy[b[0]][str(b[1])][1:].mean(axis=1)
        out[run.target] = _tau_or_zero(stats.kendalltau(x, y).statistic) if len(x) > 1 else float("nan")
    return out


# ---------------------------------------------------------------------------------------------- measurement


def _with(cfg: DictConfig, **values) -> DictConfig:
    return OmegaConf.merge(cfg, OmegaConf.create(values))


def protocol_config(cfg: DictConfig, top_blocks: int) -> DictConfig:
    return _with(cfg, finetune={"strategy": "top_blocks", "top_blocks": int(top_blocks)})


def dataset_refs(value, cfg: DictConfig) -> list[str]:
    if value in (None, "all"):
        return catalog_sources(cfg.catalog)
    return [str(value)] if isinstance(value, str) else [str(v) for v in value]


@dataclass
class Split:
    features: np.ndarray
    labels: np.ndarray
    refs: np.ndarray
    predictions: np.ndarray | None = None


def imagenet_split(images: ImageList, cfg: DictConfig, splits: tuple[str, ...]) -> Split:
    """Pooled ImageNet-MobileNetV2 features of the given splits, concatenated (the recommender's own cache)."""
    parts = [dataset_features(images, cfg, s) for s in splits]
    return Split(np.concatenate([p.features() for p in parts]), np.concatenate([p.labels for p in parts]),
                 np.concatenate([p.refs for p in parts]))


def adapted_split(checkpoint: Path, images: ImageList, cfg: DictConfig, splits: tuple[str, ...]) -> Split:
    """The target's images through a stage-1 network: pooled features of its adapted top and its source-class
    probabilities, computed from the cached frozen-bottom activations and cached per (checkpoint, split)."""
    from .transfer import _extractor

    parts = []
    cut_name = cut_name_of(backbone_spec(cfg), cfg.finetune.strategy, int(cfg.finetune.top_blocks))
    for split in splits:
        cut = dataset_features(images, cfg, split, extractor=_extractor(backbone_spec(cfg), cut_name))
        path = Path(checkpoint).parent / f"adapted-{Path(checkpoint).stem}-{cut.path.stem}.npz"
        arrays = read_npz(path, ADAPTED_ARRAYS)
        if arrays is None:
            features, probabilities = _run_tail(checkpoint, cut.features())
            arrays = {"features": features, "labels": cut.labels, "refs": cut.refs, "predictions": probabilities}
            write_npz(path, arrays)
        parts.append(Split(*(arrays[name] for name in ADAPTED_ARRAYS)))
    return Split(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("features", "labels", "refs",
                                                                              "predictions")))


ADAPTED_ARRAYS = ("features", "labels", "refs", "predictions")


def extract_shared(refs: list[str], cfg: DictConfig) -> None:
    """Every split of every dataset through the ImageNet network once: its pooled features (the recommender's)
    and the frozen bottom's activations at each protocol's cut come out of the same forward pass, cached where
    `dataset_features` (and so stage-1 training and `adapted_split`) looks for them. Three passes become one.
    Then the pooled features of the distances computed at another image size."""
    from tqdm.auto import tqdm

    from .transfer import _extractor, transfer_config

    groups: dict = {}  # backbone spec -> (config at that image size, extractors sharing it)
    pooled = make_extractor(cfg)
    groups[pooled.spec] = (cfg, [pooled])
    for b in cfg.benchmark.top_blocks:
        cfg_b = transfer_config(protocol_config(cfg, int(b)))
        spec = backbone_spec(cfg_b)
        extractor = _extractor(spec, cut_name_of(spec, "top_blocks", int(b)))
        group = groups.setdefault(spec, (cfg_b, []))[1]
        if extractor.identity not in [e.identity for e in group]:
            group.append(extractor)
    # The model-free distances at other image sizes read their own pooled features (train split): extracted
    # here too, so targets measured in parallel never extract the same features twice.
    others = {}
    for name in cfg.benchmark.distances:
        c = distance_config(cfg, name)
        if backbone_spec(c) not in groups:
            others.setdefault(backbone_spec(c), c)
    steps = Steps("features of datasets", len(refs), log)
    for ref in tqdm(refs, desc="features", unit="dataset", disable=not cfg.features.progress):
        images = open_dataset(ref, cfg)
        for cfg_g, extractors in groups.values():
            for split in ("train", "val", "test"):
                dataset_features_together(images, cfg_g, split, extractors)
        for c in others.values():
            dataset_features(images, c, "train")
        steps.step(str(ref))


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear centred kernel alignment (Kornblith et al., ICML 2019, eq. 5) of two representations of the same
    images: CKA = |Yc^T Xc|_F^2 / (|Xc^T Xc|_F |Yc^T Yc|_F), columns centred; 1 = the same up to rotation and
    scale, lower = stage 1 moved the features further."""
    xc = np.asarray(x, np.float64) - np.mean(x, axis=0)
    yc = np.asarray(y, np.float64) - np.mean(y, axis=0)
    # n x n Gram matrices: cheaper than d x d when the probe has fewer images than features.
    gx, gy = xc @ xc.T, yc @ yc.T
    denominator = np.sqrt(np.sum(gx * gx) * np.sum(gy * gy))
    return float(np.sum(gx * gy) / denominator) if denominator > 0 else 0.0


def stage1_accuracy(source_refs: list[str], cfg: DictConfig, checkpoints: dict, top_blocks: int) -> dict[str, float]:
    """Each source's stage-1 network scored on the source's own test split (top-1 accuracy of its source head)."""
    cfg_b = protocol_config(cfg, top_blocks)
    out = {}
    for ref in source_refs:
        source = open_dataset(ref, cfg)
        test = adapted_split(checkpoints[(top_blocks, source.fingerprint)], source, cfg_b, ("test",))
        out[source.name] = float(np.mean(np.argmax(test.predictions, axis=1) == test.labels)) if len(test.labels) \
            else float("nan")
    return out


def feature_change(pairs: list[tuple[str, list[str]]], cfg: DictConfig, checkpoints: dict, top_blocks: int,
                   probe: int = 400) -> dict[str, dict[str, float]]:
    """target -> source -> linear CKA between the ImageNet network's and the source's stage-1 network's pooled
    features on a fixed, seeded probe of the target's train+val images (both read from the benchmark's caches)."""
    cfg_b = protocol_config(cfg, top_blocks)
    out = {}
    for target_ref, source_refs in pairs:
        target = open_dataset(target_ref, cfg)
        base = imagenet_split(target, cfg, ("train", "val"))
        rows = np.sort(np.random.default_rng(int(cfg.benchmark.seed)).permutation(len(base.labels))[:probe])
        out[target.name] = {}
        for ref in source_refs:
            source = open_dataset(ref, cfg)
            adapted = adapted_split(checkpoints[(top_blocks, source.fingerprint)], target, cfg_b, ("train", "val"))
            out[target.name][source.name] = linear_cka(base.features[rows], adapted.features[rows])
    return out


@functools.lru_cache(maxsize=16)
def cut_name_of(spec, strategy: str, top_blocks: int) -> str | None:
    """The layer whose cached activations feed a stage-1 network's trainable top: a function of the backbone
    and the protocol, so it is found without loading any checkpoint."""
    from recommender import build_backbone, resolve_weights

    from .model import cut_layer

    return cut_layer(build_backbone(spec, resolve_weights(spec), pooling=None), strategy, top_blocks)


@functools.lru_cache(maxsize=32)
def tail_of(checkpoint: str, stamp: tuple[int, int]):
    """A stage-1 network's trainable tail with its pooled activations as a second output, built once per
    checkpoint file and kept: loading a checkpoint costs seconds, and a benchmark reads each one for every target.
    `stamp` (size, mtime) makes a file written again at the same path load again."""
    import keras

    from .model import trainable_tail
    from .transfer import load_checkpoint

    tail = trainable_tail(load_checkpoint(Path(checkpoint)))[0]
    # Re-apply the tail's layers to a fresh input, keeping the pooled activations as a second output.
    x = inputs = keras.Input(tail.input.shape[1:])
    outputs = {}
    for layer in tail.layers:
        if not isinstance(layer, keras.layers.InputLayer):
            x = outputs[layer.name] = layer(x)
    return keras.Model(inputs, [outputs["pool"], x])


TAIL_BATCH = 256


def _run_tail(checkpoint: Path, activations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stat = Path(checkpoint).stat()
    both = tail_of(str(checkpoint), (stat.st_size, stat.st_mtime_ns))
    x = activations.reshape((-1, *both.input.shape[1:]))
    # The batches `predict(x, batch_size=256)` would make, without its per-call set-up (a dataset adapter,
    # callbacks), which cost more than these small tails' arithmetic: the same outputs, bit for bit, 35 % sooner.
    batches = [both.predict_on_batch(x[i:i + TAIL_BATCH]) for i in range(0, len(x), TAIL_BATCH)]
    pooled, probabilities = (np.concatenate([b[j] for b in batches]) for j in range(2))
    return pooled.astype(np.float32), probabilities.astype(np.float32)



def distance_config(cfg: DictConfig, name: str) -> DictConfig:
    """The recommender's configuration with `benchmark.distances[name]` as its distance: the group option it
    names (`distance:`), with its other keys overriding that option's values (`image_size` sets the backbone's)."""
    entry = dict(OmegaConf.to_container(cfg.benchmark.distances[name], resolve=True) or {})
    option = str(entry.pop("distance", "class_mean_emd"))
    size = entry.pop("image_size", None)
    path = CONF_DIR / "distance" / f"{option}.yaml"
    if not path.is_file():
        raise DatasetError(f"benchmark.distances.{name}: distance={option!r} is not in conf/distance/; use one of "
                           f"{sorted(p.stem for p in path.parent.glob('*.yaml'))}.")
    distance = OmegaConf.merge(OmegaConf.load(path), entry)
    c = cfg.copy()
    OmegaConf.set_struct(c, False)
    c.distance = distance
    if size is not None:
        c.backbone.image_size = int(size)
    return _with(c, report={"explain": False}, features={"progress": False})


def mix_candidates(cfg: DictConfig) -> list[str]:
    """The distances the prior mix may use: those computed at the recommender's own image size, so the mix the
    benchmark fits is one `recommend` can run."""
    return [str(n) for n, entry in cfg.benchmark.distances.items()
            if int((entry or {}).get("image_size", cfg.backbone.image_size)) == int(cfg.backbone.image_size)]


def model_free_scores(target_ref: str, source_refs: list[str], cfg: DictConfig) -> dict:
    """-distance of every distance in `benchmark.distances` (model-free: ImageNet features only), in source
    order, plus the naive baselines."""
    scores = {}
    for name in cfg.benchmark.distances:
        ranking = recommend(cfg=distance_config(cfg, name), target=target_ref, sources=source_refs)
        found = {s.ref: s.distance for s in ranking.sources}
        scores[str(name)] = np.array([-found[r] for r in source_refs])
    ranking_sizes = {s.ref: (s.n_images, s.n_classes) for s in ranking.sources}
    scores["source_images"] = np.array([ranking_sizes[r][0] for r in source_refs], float)
    scores["source_classes"] = np.array([ranking_sizes[r][1] for r in source_refs], float)
    rng = np.random.default_rng([int(cfg.benchmark.seed), zlib.crc32(str(target_ref).encode())])
    scores["random"] = rng.permutation(len(source_refs)).astype(float)
    return scores


def model_based_scores(pools: list[Split], names: list[str]) -> dict:
    out = {}
    for name in names:
        score = REGISTRY[name]
        values = []
        for pool in pools:
            data = pool.predictions if score.needs == "predictions" else pool.features
            values.append(score.function(data, pool.labels))
        out[name] = np.array(values, float)
    return out


def _check_aligned(name: str, reference: Split, other: Split, what: str) -> None:
    if len(reference.refs) != len(other.refs) or np.any(reference.refs != other.refs):
        raise DatasetError(f"benchmark: the {what} images of {name!r} differ between networks (files changed "
                           "during the run?); run the benchmark again.")


def _parallel_accuracies(pools: list[Split], tests: list[Split], episodes, c: float, jobs: int,
                         classifier: str = "logistic") -> np.ndarray:
    """(networks, episodes) accuracies; episodes are split into chunks fitted in `jobs` processes.

    Always with one BLAS thread per process (what joblib's workers get), so the accuracies are the same whether
    the episodes are fitted here or in workers."""
    from joblib import Parallel, delayed
    from threadpoolctl import threadpool_limits

    args = ([p.features for p in pools], pools[0].labels, [t.features for t in tests], tests[0].labels)
    chunks = [episodes[i::int(jobs)] for i in range(int(jobs))] if jobs > 1 else [episodes]
    if len(chunks) == 1:
        with threadpool_limits(limits=1, user_api="blas"):
            parts = [episode_accuracies(*args, episodes, c, classifier)]
    else:
        parts = Parallel(n_jobs=len(chunks))(delayed(episode_accuracies)(*args, chunk, c, classifier)
                                             for chunk in chunks)
    out = np.zeros((len(pools), len(episodes)))
    for i, part in enumerate(parts):
        out[:, i::len(chunks)] = part
    return out


def _target_key(target: ImageList, sources: list[ImageList], checkpoints: dict, cfg: DictConfig) -> str:
    payload = {"format": FORMAT, "target": target.fingerprint, "sources": [s.fingerprint for s in sources],
               "checkpoints": {str(b): [Path(checkpoints[(b, s.fingerprint)]).name for s in sources]
                               for b in cfg.benchmark.top_blocks},
               "benchmark": OmegaConf.to_container(cfg.benchmark, resolve=True),
               "split": OmegaConf.to_container(cfg.split), "seed": int(cfg.seed),
               "backbone": OmegaConf.to_container(cfg.backbone, resolve=True),
               "cap": cfg.features.max_images_per_class}
    for volatile in ("jobs", "bootstrap", "headline", "distances", "evidence"):  # not what accuracies depend on
        payload["benchmark"].pop(volatile, None)
    if payload["benchmark"]["fewshot"].get("classifier") == "logistic":
        # The default classifier is left out of the key, so targets measured before the option existed stay valid.
        payload["benchmark"]["fewshot"].pop("classifier")
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def target_cache_path(target: ImageList, sources: list[ImageList], checkpoints: dict, cfg: DictConfig) -> Path:
    """Where one target's measurements are cached (a pure function of their inputs' content)."""
    return Path(cfg.features.cache_dir).expanduser() / "benchmark" / \
        f"target-{_target_key(target, sources, checkpoints, cfg)}.json"


def measure_target(target_ref: str, source_refs: list[str], cfg: DictConfig, checkpoints: dict) -> TargetRun:
    """Accuracies (every protocol, every k, every episode) and scores of one target; cached by content."""
    start = time.perf_counter()
    bench = cfg.benchmark
    target = open_dataset(target_ref, cfg)
    sources = [open_dataset(r, cfg) for r in source_refs]
    cache = target_cache_path(target, sources, checkpoints, cfg)
    stored = read_json(cache)
    if stored is not None:
        try:
            return with_model_free(TargetRun.from_json(stored), model_free_scores(target_ref, source_refs, cfg))
        except (ValueError, KeyError, TypeError) as err:
            log.warning("Benchmark cache %s is unreadable (%s); measuring again.", cache, err)
    pool_splits, test_splits = ("train", "val"), ("test",)
    base_pool, base_test = imagenet_split(target, cfg, pool_splits), imagenet_split(target, cfg, test_splits)
    if len(base_test.labels) == 0:
        raise DatasetError(f"benchmark: target {target.name!r} has an empty test split; add images.")
    accuracy, scores = {}, {}
    ks = [str(k) for k in bench.fewshot.k] if bench.ground_truth == "fewshot" else ["finetune"]
    episodes = {k: draw_episodes(base_pool.labels, int(k), int(bench.fewshot.episodes), int(bench.fewshot.seed))
                for k in ks if k != "finetune"}
    for b in bench.top_blocks:
        b = int(b)
        cfg_b = protocol_config(cfg, b)
        pools, tests = [base_pool], [base_test]
        for src in sources:
            ckpt = checkpoints[(b, src.fingerprint)]
            pools.append(adapted_split(ckpt, target, cfg_b, pool_splits))
            tests.append(adapted_split(ckpt, target, cfg_b, test_splits))
            _check_aligned(target.name, base_pool, pools[-1], "train+val")
            _check_aligned(target.name, base_test, tests[-1], "test")
        accuracy[b] = {}
        for k in ks:
            if k == "finetune":
                accuracy[b][k] = _finetune_accuracies(target_ref, source_refs, sources, cfg_b, checkpoints, b)
            else:
                accuracy[b][k] = _parallel_accuracies(pools, tests, episodes[k], float(bench.fewshot.c),
                                                      int(bench.jobs), str(bench.fewshot.classifier))
        pools = pools[1:]
        scores[b] = model_based_scores(pools, [n for n in bench.scores if n in REGISTRY])
    run = TargetRun(target=target.name, sources=[s.name for s in sources], accuracy=accuracy, scores=scores,
                    n_pool=len(base_pool.labels), n_test=len(base_test.labels), seconds=time.perf_counter() - start)
    write_json(cache, run.to_json())
    return with_model_free(run, model_free_scores(target_ref, source_refs, cfg))


def with_model_free(run: TargetRun, free: dict) -> TargetRun:
    """The run with this configuration's model-free scores. They are recomputed on every run (seconds, from
    cached features) rather than stored with the measured accuracies, so a new distance needs no re-measuring."""
    for b, scores in run.scores.items():
        run.scores[b] = {**{n: v for n, v in scores.items() if n in REGISTRY}, **free}
    return run


def _finetune_accuracies(target_ref, source_refs, sources, cfg_b, checkpoints, b) -> np.ndarray:
    """The slower ground truth: stage-2 fine-tuning from each stage-1 network (and ImageNet), one column per
    seed of `finetune.seeds` (the same seeds, so the columns pair like episodes do)."""
    from .transfer import train_target

    seeds = [int(s) for s in cfg_b.finetune.seeds]
    rows = [[train_target(target_ref, cfg_b, s, None).accuracy for s in seeds]]
    for ref, src in zip(source_refs, sources):
        rows.append([train_target(target_ref, cfg_b, s, checkpoints[(b, src.fingerprint)]).accuracy for s in seeds])
    return np.array(rows)


def plan(cfg: DictConfig) -> list[tuple[str, list[str]]]:
    """(target, its sources) pairs: every target against every source that is not the target itself."""
    targets = dataset_refs(cfg.benchmark.targets, cfg)
    sources = dataset_refs(cfg.benchmark.sources, cfg)
    opened = {r: open_dataset(r, cfg) for r in dict.fromkeys([*targets, *sources])}
    # One spelling per dataset, as the recommender reports it, so its results can be looked up by ref.
    canonical = {r: canonical_ref(r, images, cfg) for r, images in opened.items()}
    targets, sources = [canonical[t] for t in targets], [canonical[s] for s in sources]
    opened = {canonical[r]: images for r, images in opened.items()}
    pairs = []
    for t in targets:
        chosen = [s for s in dict.fromkeys(sources) if not same_dataset(opened[s], opened[t])]
        if len(chosen) < 2:
            raise DatasetError(f"benchmark: target {t!r} has fewer than two candidate sources; list at least two "
                               "other datasets in benchmark.sources.")
        pairs.append((t, chosen))
        if cfg.benchmark.ground_truth == "fewshot":  # a k the pool cannot hold is refused before any work
            refuse_k_beyond_the_pool(pool_labels(opened[t], cfg), cfg.benchmark.fewshot.k, opened[t].class_names,
                                     f"benchmark.fewshot.k (target {t})")
    return pairs


@dataclass
class Benchmark:
    runs: list[TargetRun]
    config: dict
    protocols: dict = field(default_factory=dict)  # label -> evaluate() result
    headline: str = ""
    sensitivity: dict = field(default_factory=dict)
    feature_change: dict = field(default_factory=dict)  # target -> source -> CKA with the ImageNet features
    stage1_accuracy: dict = field(default_factory=dict)  # source -> its stage-1 network on its own test split
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)


def _init_worker() -> None:
    # Spawned workers start with logging unconfigured: send their INFO lines (stage-1 epochs) to stderr.
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")


@contextlib.contextmanager
def worker_pool(jobs: int):
    """`jobs` worker processes (None for one: everything runs here). Spawned, not forked: this process has
    TensorFlow's threads running. Each worker computes exactly what this process would (the same TensorFlow
    and BLAS thread settings), so results do not depend on `jobs`; only the wall time does."""
    if jobs <= 1:
        yield None
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker) as pool:
        yield pool


def _in_parallel(pool, function, calls: list[tuple], steps: Steps, names: list[str]) -> list:
    """[function(*args) for args in calls], in the pool's workers when there is one; results in call order.
    Each finished call is one step of `steps` (a log line, and the progress bar), named by `names`."""
    if pool is None:
        out = []
        for args, name in zip(calls, names):
            out.append(function(*args))
            steps.step(name)
        return out
    from concurrent.futures import as_completed

    futures = {pool.submit(function, *args): i for i, args in enumerate(calls)}
    out = [None] * len(calls)
    try:
        for future in as_completed(futures):
            out[futures[future]] = future.result()
            steps.step(names[futures[future]])
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return out


def _measure_timed(target_ref: str, source_refs: list[str], cfg: DictConfig, checkpoints: dict):
    start = time.perf_counter()
    run = measure_target(target_ref, source_refs, cfg, checkpoints)
    return run, time.perf_counter() - start


def run_benchmark(cfg: DictConfig) -> Benchmark:
    """Train (or reuse) every stage-1 network, measure every target, evaluate every score under every protocol.

    Stage-1 networks are independent of each other: with `benchmark.jobs` > 1 they train in that many worker
    processes (one network's training leaves a core partly idle; see `jobs` in conf/benchmark.yaml)."""
    from tqdm.auto import tqdm

    from .transfer import train_source

    start = time.perf_counter()
    bench = cfg.benchmark
    pairs = plan(cfg)
    needed = list(dict.fromkeys(s for _, srcs in pairs for s in srcs))
    quiet = not cfg.features.progress
    with worker_pool(int(bench.jobs)) as pool:
        t0 = time.perf_counter()
        extract_shared(list(dict.fromkeys([*(t for t, _ in pairs), *needed])), cfg)
        timings = {"jobs": int(bench.jobs), "features_seconds": time.perf_counter() - t0}
        t0 = time.perf_counter()
        opened = {ref: open_dataset(ref, cfg) for ref in needed}
        # Largest sources first, so the last network to finish is a short one.
        jobs = sorted([(int(b), ref) for b in bench.top_blocks for ref in needed],
                      key=lambda job: -len(opened[job[1]].labels))
        from .transfer import checkpoint_path, transfer_config

        # What this run will read from the cache rather than compute: the report says whether it was cold.
        cached_networks = sum(checkpoint_path(opened[ref], transfer_config(protocol_config(cfg, b)),
                                              int(bench.stage1_seed)).is_file() for b, ref in jobs)
        with tqdm(total=len(jobs), desc="stage-1 networks", unit="net", disable=quiet) as bar:
            paths = _in_parallel(pool, train_source, [(ref, protocol_config(cfg, b), int(bench.stage1_seed))
                                                      for b, ref in jobs],
                                 Steps("stage-1 networks", len(jobs), log, bar), [f"{ref}, top {b}" for b, ref in jobs])
        checkpoints = {(b, opened[ref].fingerprint): path for (b, ref), path in zip(jobs, paths)}
        timings.update({"stage1_seconds": time.perf_counter() - t0, "targets": {},
                        "networks": len(jobs), "networks_cached": int(cached_networks)})
        timings["targets_cached"] = [str(t) for t, srcs in pairs if target_cache_path(
            open_dataset(t, cfg), [opened[r] for r in srcs], checkpoints, cfg).is_file()]
        t0 = time.perf_counter()
    # Targets run here, one after another, each fitting its episodes in `jobs` processes: measured, two targets
    # in two workers were no faster (1,328 s against 1,274 s for the catalog's ten).
    with tqdm(total=len(pairs), desc="targets", unit="target", disable=quiet) as bar:
        measured = _in_parallel(None, _measure_timed, [(t, srcs, cfg, checkpoints) for t, srcs in pairs],
                                Steps("targets", len(pairs), log, bar), [str(t) for t, _ in pairs])
    runs = [run for run, _ in measured]
    timings["targets"] = {run.target: seconds for run, seconds in measured}
    timings["targets_seconds"] = time.perf_counter() - t0
    ks = [str(k) for k in bench.fewshot.k] if bench.ground_truth == "fewshot" else ["finetune"]
    runs = with_shipped_default(runs, int(bench.headline.top_blocks), load_evidence(bench.get("evidence")))
    candidates = mix_candidates(cfg)
    protocols, measured = {}, {}
    for b in bench.top_blocks:
        for k in ks:
            measured[protocol_label(b, k)] = (int(b), k)
            protocols[protocol_label(b, k)] = evaluate(runs, int(b), k, int(bench.bootstrap), int(bench.seed),
                                                       candidates=candidates)
    head_k = str(bench.headline.k) if bench.ground_truth == "fewshot" else "finetune"
    headline = protocol_label(bench.headline.top_blocks, head_k)
    if headline not in protocols:
        raise DatasetError(f"benchmark.headline={dict(bench.headline)} is not among the measured protocols "
                           f"{list(protocols)}; pick top_blocks from benchmark.top_blocks and k from "
                           "benchmark.fewshot.k.")
    head = (int(bench.headline.top_blocks), head_k)
    sensitivity = {label: order_agreement(runs, head, measured[label]) for label in protocols if label != headline}
    changed = feature_change(pairs, cfg, checkpoints, head[0]) if bench.ground_truth == "fewshot" else {}
    own = stage1_accuracy(needed, cfg, checkpoints, head[0])
    return Benchmark(runs=runs, config=OmegaConf.to_container(cfg, resolve=True), protocols=protocols,
                     headline=headline, sensitivity=sensitivity, feature_change=changed, stage1_accuracy=own,
                     seconds=time.perf_counter() - start, timings=timings)


def evidence_json(result: Benchmark) -> dict:
    """catalog_evidence.json: what `recommend` reads (recommender/evidence.py): the headline protocol's measured
    gains over ImageNet, every score's validated summary, every distance's configuration, the fitted mix."""
    head = result.protocols[result.headline]
    if not head.get("mix"):
        return {}
    bench = result.config["benchmark"]
    cfg = OmegaConf.create(result.config)
    distances = {}
    for name in head["mix"]["distances"]:
        c = distance_config(cfg, name)
        distances[name] = OmegaConf.to_container(c.distance, resolve=True)
    mix, summary = head["mix"], head["summary"]
    # The default is earned: the runnable ranking with the best mean weighted tau, each candidate scored on
    # targets it never looked at (the prior + distance mix, the prior alone, or one distance alone).
    candidates = {MIX: (mix["folds"], mix["all_targets"]), PRIOR: (mix["prior_folds"], mix["prior_all_targets"])}
    for name in mix["distances"]:
        alone = {**mix["all_targets"], "distance": name, "c": math.inf}
        candidates[name] = ({t: alone for t in mix["folds"]}, alone)
    chosen = max(candidates, key=lambda n: (round(summary[n]["mean_weighted_tau"], 12), -list(candidates).index(n)))

    def plain(f: dict) -> dict:
        return {**f, "c": None if math.isinf(f["c"]) else f["c"],
                "mean_weighted_tau": None if not np.isfinite(f.get("mean_weighted_tau", np.nan))
                else f["mean_weighted_tau"]}
    folds = {t: plain(f) for t, f in candidates[chosen][0].items()}
    everything = plain(candidates[chosen][1])
    scored = {t: v["scores"] for t, v in head["targets"].items()}
    # distance=prior_score: the prior plus LogME of each source's network, fitted the same way (nested LOTO).
    with_score = {"prior_score": prior_score_evidence(head["mix"]["gains"], {t: s["logme"] for t, s in scored.items()},
                                                      "logme", int(result.headline.split("/")[0][3:]))} \
        if len(scored) > 1 and all("logme" in s for s in scored.values()) else {}
    return {**with_score, "format": 1, "protocol": result.headline,
            "image_size": int(result.config["backbone"]["image_size"]),
            "made_by": "scripts/benchmark.py", "targets": list(head["targets"]),
            "gains": head["mix"]["gains"],
            "summary": {n: {k: v for k, v in s.items() if not k.startswith(("mean_pearson", "mean_kendall",
                                                                            "pearson_", "kendall_"))}
                        for n, s in head["summary"].items()},
            "distances": distances,
            "default": {"score": chosen, "folds": folds, "all_targets": everything,
                        "candidates": {n: summary[n]["mean_weighted_tau"] for n in candidates}},
            "benchmark": {"episodes": bench["fewshot"]["episodes"], "stage1_seed": bench["stage1_seed"]},
            # What the measurements hold for: the backbone they were made with, and every distance validated,
            # with the image size it was computed at (recommender/evidence.py matches a run against these).
            "backbone": {k: result.config["backbone"][k] for k in ("name", "alpha", "weights", "image_size")},
            "validated_distances": {
                str(n): {**OmegaConf.to_container(distance_config(cfg, n).distance, resolve=True),
                         "image_size": int(distance_config(cfg, n).backbone.image_size)}
                for n in bench["distances"]}}


def to_json(result: Benchmark) -> dict:
    """benchmark.json: the headline protocol's targets and summary at the top level, every protocol below."""
    head = result.protocols[result.headline]
    headline = result.config["benchmark"]["headline"]
    return {
        "protocol": {"ground_truth": result.config["benchmark"]["ground_truth"], "headline": result.headline,
                     "default_distance": result.config["distance"]["name"],
                     "top_blocks": int(headline["top_blocks"]), "k": headline["k"],
                     "episodes": result.config["benchmark"]["fewshot"]["episodes"],
                     "stage1_seed": result.config["benchmark"]["stage1_seed"],
                     "classifier": "standardised features, L2 logistic regression (C=%s)"
                                   % result.config["benchmark"]["fewshot"]["c"],
                     "discrimination_test": "Friedman test over episodes (Wilcoxon with two sources), alpha 0.05",
                     "interval": "95% Student-t over episodes (per pair); bootstrap over episodes, 2.5-97.5 "
                                 "percentiles (over targets)",
                     "baseline": BASELINE, "backbone": result.config["backbone"],
                     "finetune": result.config["finetune"]},
        "targets": head["targets"],
        "summary": head["summary"],
        "excluded_targets": head["excluded_targets"],
        "protocols": {label: {"summary": p["summary"], "excluded_targets": p["excluded_targets"],
                              "targets": {t: {key: v[key] for key in ("accuracy", "ci95", "gain_over_imagenet",
                                                                       "gain_ci95", "discriminates", "friedman_p",
                                                                       "spread_points", "weighted_tau")}
                                          for t, v in p["targets"].items()}}
                      for label, p in result.protocols.items()},
        "order_agreement_with_headline": result.sensitivity,
        "feature_change_cka": result.feature_change,
        "stage1_accuracy": result.stage1_accuracy,
        "episodes": {run.target: {str(b): {k: a.tolist() for k, a in ks.items()} for b, ks in run.accuracy.items()}
                     for run in result.runs},
        "sources": {run.target: run.sources for run in result.runs},
        "seconds": result.seconds, "timings": result.timings,
        # How long measuring each target took when it was measured (cold), kept with its cache entry.
        "measured_seconds": {run.target: run.seconds for run in result.runs},
    }
