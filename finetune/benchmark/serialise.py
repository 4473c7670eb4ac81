"""The benchmark's files: benchmark.json (every measurement) and catalog_evidence.json (what `recommend`
reads through recommender/evidence.py).
"""
from __future__ import annotations

import math

import numpy as np
from omegaconf import OmegaConf

from finetune.benchmark.measure import distance_config
from finetune.benchmark.mix import MIX, PRIOR
from finetune.benchmark.results import Benchmark
from finetune.transfer.adapted import BASELINE
from recommender.evidence import evidence_document
from recommender.rankers.prior import prior_score_evidence


def options_of(cfg) -> dict:
    """A distance as the evidence names it: its options, without the factory that builds it (found again by
    name, recommender.distances.configure)."""
    return {k: v for k, v in OmegaConf.to_container(cfg.distance, resolve=True).items() if k != "_target_"}


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
        distances[name] = options_of(c)
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
    with_score = prior_score_evidence(head["mix"]["gains"], {t: s["logme"] for t, s in scored.items()},
                                      "logme", int(result.headline.split("/")[0][3:])) \
        if len(scored) > 1 and all("logme" in s for s in scored.values()) else None
    return evidence_document(
        prior_score=with_score, protocol=result.headline, image_size=int(result.config["backbone"]["image_size"]),
        targets=list(head["targets"]), gains=head["mix"]["gains"],
        summary={n: {k: v for k, v in s.items() if not k.startswith(("mean_pearson", "mean_kendall", "pearson_",
                                                                      "kendall_"))}
                 for n, s in head["summary"].items()},
        distances=distances,
        default={"score": chosen, "folds": folds, "all_targets": everything,
                 "candidates": {n: summary[n]["mean_weighted_tau"] for n in candidates}},
        benchmark={"episodes": bench["fewshot"]["episodes"], "stage1_seed": bench["stage1_seed"]},
        # What the measurements hold for: the backbone they were made with, and every distance validated,
        # with the image size it was computed at (recommender/evidence.py matches a run against these).
        backbone={k: result.config["backbone"][k] for k in ("name", "alpha", "weights", "image_size")},
        validated_distances={str(n): {**options_of(distance_config(cfg, n)),
                                      "image_size": int(distance_config(cfg, n).backbone.image_size)}
                             for n in bench["distances"]})

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
        "episodes": {run.target: run.to_json()["accuracy"] for run in result.runs},
        "sources": {run.target: run.sources for run in result.runs},
        "seconds": result.seconds, "timings": result.timings,
        # How long measuring each target took when it was measured (cold), kept with its cache entry.
        "measured_seconds": {run.target: run.seconds for run in result.runs},
    }
