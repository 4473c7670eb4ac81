"""The verdict: what to start from on this target, in the words a person acts on, and the command to run next.

`verdict` says what the committed benchmark measured about the ranking (its validated accuracy, each source's
gain over ImageNet on the other catalog targets, which sources are interchangeable) and decides from those
measured gains (`decide`). Under the gain model (`distance=gain`, the default) `predicted_verdict` decides from
this target's predicted gains instead: start from the source with the highest predicted gain when that prediction
clears `threshold` × the interval's half-width (the rule chosen by nested leave-one-target-out on decision regret,
docs/gain/gain.md), else from ImageNet. Every number in a sentence says what it is: predicted for this target, or
measured on other targets.
"""
from __future__ import annotations

import shlex

import numpy as np
from scipy import stats

from recommender.evidence import backbone_mismatch, measured_sources
from recommender.rankers.base import validated_as

WIDE_INTERVAL_POINTS = 4.0  # an interval wider than this (lower to upper bound) says: check by fine-tuning first


def rule_words(threshold: float, half_width: float) -> str:
    """The verdict's rule in words."""
    if threshold >= 1:
        return "its interval lies above 0"
    if threshold <= 0:
        return "its predicted gain is above 0"
    return f"its predicted gain is above {threshold * half_width:.1f} points ({threshold:g} × the interval's half-width)"


def points(value: float) -> str:
    """A signed number of points to one decimal, never "-0.0"."""
    return f"{round(float(value), 1) + 0.0:+.1f}"


def _interval(parts: dict) -> str:
    return (f"{points(parts['predicted_gain_points'])} points [{points(parts['low_points'])}, "
            f"{points(parts['high_points'])}] ({parts['interval']} interval)")


def next_commands(target_ref: str, source_ref: str | None, parts: dict | None) -> list[str]:
    """The command to run next: train from the decided start, and validate first when the interval is wide."""
    source = "imagenet" if source_ref is None else source_ref
    commands = [f"python scripts/train.py target={shlex.quote(target_ref)} source={shlex.quote(source)}"]
    if parts is not None and parts["high_points"] - parts["low_points"] > WIDE_INTERVAL_POINTS:
        commands.append(f"python scripts/validate.py target={shlex.quote(target_ref)}   # wide interval: "
                        "fine-tune to check")
    return commands


def predicted_verdict(base: dict, ranked: list, target_name: str, target_ref: str, summary: dict | None) -> dict:
    """`base` (`verdict`: the gains measured on other targets, interchangeability) with the
    decision, headline and sentences of the gain model. `ranked`: the SourceResults, highest predicted first,
    each with the gain model's parts."""
    top = ranked[0]
    p = top.parts
    threshold, half = float(p["threshold_half_widths"]), float(p["half_width"])
    go = p["predicted_gain_points"] > threshold * half
    own = " (a source the catalog never measured: predicted from its network's scores alone)" \
        if p["model"] == "user" else ""
    if go:
        decision = "source"
        headline = (f"Start from {top.name}: predicted {_interval(p)} over ImageNet weights alone on "
                    f"{target_name}{own}; the verdict names a source when {rule_words(threshold, half)}.")
    else:
        decision = "imagenet"
        headline = (f"Start from ImageNet: the best source for {target_name}, {top.name}, is predicted "
                    f"{_interval(p)} over ImageNet weights alone{own}, and the verdict names a source only when "
                    f"{rule_words(threshold, half)}.")
    sentences = []
    measured = base.get("gains", {}).get(top.name)
    if measured:
        sentences.append(f"Measured on the other catalog targets (not this one), {top.name} changed few-shot "
                         f"accuracy by {measured['mean']:+.1f} ± {measured['half']:.1f} points against ImageNet "
                         "(95% t-interval over those targets).")
    if summary:
        sentences.append(
            f"On the {summary['n_targets']} catalog targets, each predicted by a model fitted without it, the "
            f"90% intervals held {100 * summary['coverage']:.0f}% of the measured gains, this verdict lost "
            f"{summary['mean_decision_regret']:.2f} points on average against the best of the sources and ImageNet "
            f"(always ImageNet: {summary['always_imagenet_regret']:.2f}), and the order by predicted gain had mean "
            f"weighted Kendall tau {summary['mean_weighted_tau']:.2f} with the measured gains.")
    commands = next_commands(target_ref, top.ref if go else None, p)
    validated = None if not summary else {
        "score": "gain", "mean_weighted_tau": summary["mean_weighted_tau"],
        "ci95": [summary["mean_weighted_tau"] - summary["weighted_tau_ci95_half"],
                 summary["mean_weighted_tau"] + summary["weighted_tau_ci95_half"]],
        "mean_top1_regret": summary["mean_decision_regret"], "n_targets": summary["n_targets"]}
    return {**base, "decision": decision, "headline": headline, "sentences": sentences,
            "start_from_imagenet": not go, "interchangeable": [], "validated": validated,
            "chosen": top.name if go else "imagenet", "next": commands,
            "predicted": {"source": top.name, "gain_points": p["predicted_gain_points"],
                          "low_points": p["low_points"], "high_points": p["high_points"],
                          "interval": p["interval"], "rule": rule_words(threshold, half)}}


def source_gains(evidence: dict, target: str | None, catalog_names) -> dict[str, dict | None]:
    """Each catalog source's measured gain over the ImageNet network on the catalog targets other than `target`,
    in accuracy points: {catalog name: {"mean", "half", "n"}} (half = half-width of the 95% t-interval over those
    targets, nan with one target), None for a source the benchmark never measured."""
    out = {}
    for name in catalog_names:
        values = np.array([100 * float(g[name]) for t, g in evidence["gains"].items()
                           if t != target and name is not None and name in g])
        if len(values) == 0:
            out[name] = None
            continue
        half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))) \
            if len(values) > 1 else float("nan")
        out[name] = {"mean": float(values.mean()), "half": half, "n": int(len(values))}
    return out


def _points(gain: dict) -> str:
    return f"{gain['mean']:+.1f} ± {gain['half']:.1f} points"


def _against_zero(gain: dict) -> str:
    """Where a gain's 95% interval lies against 0, in words."""
    if gain["mean"] - gain["half"] > 0:
        return "a measured gain"
    if gain["mean"] + gain["half"] < 0:
        return "a measured loss"
    return "within the noise"


def decide(ranked: list[str], gains: list[dict | None], interchangeable: list[str],
           built: frozenset = frozenset()) -> tuple[str, str]:
    """(decision, headline): the one sentence a person acts on, from the ranked display names, their measured
    gains over ImageNet (points, None = never measured) and the sources interchangeable with the first.

    - "source": the first source's gain interval lies above 0 and no other source is interchangeable with it;
    - "interchangeable": its interval lies above 0, and the measured transfer of others did not differ from it;
    - "imagenet": its gain is within the noise (or below 0), so the ImageNet weights are as good a start;
    - "unmeasured": nothing measured says whether it beats ImageNet.
    A first source in `built` (built from a pool) is named as one to build, with the gain its kind of build made."""
    top, gain = ranked[0], gains[0]
    if gain is None:
        return "unmeasured", (f"Try {top} first: it ranks first, but no transfer measurement says whether it beats "
                              "starting from ImageNet; check with scripts/validate.py.")
    if not gain["mean"] - gain["half"] > 0:  # a nan interval (one target) is not evidence of a gain either
        return "imagenet", (f"Start from ImageNet: the first-ranked source, {top}, changed few-shot accuracy by "
                            f"{_points(gain)} against ImageNet weights alone, {_against_zero(gain)}.")
    if interchangeable:
        names = ", ".join([top, *interchangeable[:-1]]) + f" and {interchangeable[-1]}"
        return "interchangeable", (f"{names} are interchangeable: start from either. {top} gained "
                                   f"{_points(gain)} over ImageNet weights, and the others' measured transfer did "
                                   "not differ from it.")
    if top in built:
        return "build", (f"Build a source from the pool and start from it: {top}, the pool's classes closest to this "
                         f"target. Sources built this way gained {_points(gain)} over ImageNet weights alone on the "
                         "other catalog targets.")
    return "source", f"Start from {top}: it gained {_points(gain)} over ImageNet weights alone."


def validation(evidence: dict, distance_cfg: dict, ranked: list[tuple[str, str | None]], image_size: int,
               mismatch: tuple[str, str] | None, capped: bool) -> tuple[dict | None, list[str]]:
    """(the validated figures of this ranking in the committed benchmark, or None; the sentences that quote them,
    or say why none is quoted: another backbone width, a capped or single-source run, a shortlist, or a ranking
    the benchmark never measured)."""
    measured = measured_sources(evidence)
    score = validated_as(evidence, distance_cfg, any(cat in measured for _, cat in ranked), image_size)
    if mismatch:  # another width: the ranking was not validated with it
        return None, [f"Not validated for this backbone: {mismatch[1]}."]
    if score and (capped or len(ranked) < 2):  # validated with every image, and several sources ranked
        return None, ["The benchmark's figure for this ranking is not quoted: it was measured with every image of "
                      "each dataset and several sources ranked, and this run "
                      + ("ranks a single source." if len(ranked) < 2 else
                         "caps the images per class (features.max_images_per_class).")]
    shortlist = distance_cfg.get("shortlist")
    if shortlist is not None and int(shortlist) < len(ranked):
        return None, ([f"With distance.shortlist={shortlist} only part of the ranking used the trained networks: "
                       "the figure validated for the whole ranking does not apply; docs/rankers.md gives each "
                       "shortlist size's leave-one-target-out figure."] if score else [])
    summaries = {**evidence["summary"], **({"prior_score": evidence["prior_score"]["summary"]}
                                           if evidence.get("prior_score") else {})}
    if not (score and score in summaries):
        return None, ["This distance configuration is not in the committed benchmark: its ranking is not "
                      "validated (run scripts/benchmark.py with it in benchmark.distances)."]
    s = summaries[score]
    lo, hi = s.get("ci95") or [float("nan")] * 2
    return ({"score": score, "mean_weighted_tau": s["mean_weighted_tau"], "ci95": s.get("ci95"),
             "mean_top1_regret": s.get("mean_top1_regret"), "n_targets": s.get("n_targets")},
            [f"On the {s.get('n_targets')} catalog targets of the benchmark ({evidence.get('protocol')}, each target "
             f"scored without its own measurements), this ranking's mean weighted Kendall tau with the measured "
             f"transfer was {s['mean_weighted_tau']:.2f} [95% CI {lo:.2f}, {hi:.2f}], and taking its first source "
             f"cost on average {s.get('mean_top1_regret', float('nan')):.2f} accuracy points against the best "
             "source."])


def interchangeable(gains: dict, ranked: list[tuple[str, str | None]]) -> list[str]:
    """The sources whose measured gains over the targets in `gains` (target -> catalog source -> gain) do not
    differ from the first source's (paired t-test over those targets, p >= 0.05; at least two shared targets)."""
    top_catalog = ranked[0][1]
    same = []
    for name, cat in ranked[1:]:
        pairs = [(g[top_catalog], g[cat]) for g in gains.values() if cat and top_catalog in g and cat in g]
        if len(pairs) >= 2:
            a, b = np.array(pairs).T
            p = 1.0 if np.all(a == b) else float(stats.ttest_rel(a, b).pvalue)
            if p >= 0.05:
                same.append(name)
    return same


def verdict(evidence: dict | None, distance_cfg: dict, target: str | None, ranked: list[tuple[str, str | None]],
            image_size: int, backbone: dict | None = None, capped: bool = False) -> dict:
    """What the report says about a ranking. ranked: (display name, catalog name or None), best first.

    - decision, headline: see `decide`; gains: display name -> measured gain over ImageNet in points (or None);
    - validated: the configured ranking's mean weighted tau, interval and top-1 regret in the benchmark
      (`validation`);
    - interchangeable: the sources whose measured gain over ImageNet on the other catalog targets does not
      differ from the top source's (`interchangeable`);
    - start_from_imagenet: the top source's gain over ImageNet on the other catalog targets is within the noise
      (95% t-interval over targets reaching 0) or below it."""
    mismatch = None if evidence is None or backbone is None else backbone_mismatch(evidence, backbone)
    if evidence is None or (mismatch and mismatch[0] == "weights"):
        decision, headline = decide([ranked[0][0]], [None], [])
        why = (f"Nothing here is validated: {mismatch[1]}." if mismatch else
               "No catalog benchmark evidence was found, so nothing here is validated.")
        return {"validated": None, "interchangeable": [], "start_from_imagenet": None, "decision": decision,
                "headline": headline, "gains": {name: None for name, _ in ranked}, "sentences": [why]}
    validated, sentences = validation(evidence, distance_cfg, ranked, image_size, mismatch, capped)
    out = {"protocol": evidence.get("protocol"), "sentences": sentences, "validated": validated,
           "target_in_catalog": target is not None and target in evidence["gains"]}
    per_catalog = source_gains(evidence, target, {cat for _, cat in ranked})
    out["gains"] = {name: per_catalog[cat] for name, cat in ranked}
    top_name = ranked[0][0]
    top_gain = out["gains"][top_name]
    same = [] if top_gain is None else \
        interchangeable({t: g for t, g in evidence["gains"].items() if t != target}, ranked)
    out["interchangeable"] = same
    built = frozenset(name for name, cat in ranked if cat is not None and cat.startswith("built:"))
    out["decision"], out["headline"] = decide([name for name, _ in ranked], [out["gains"][n] for n, _ in ranked],
                                              same, built)
    if top_gain is None:
        out["start_from_imagenet"] = None
        out["sentences"].append(f"{top_name} has no transfer measurement in the catalog benchmark, so whether it "
                                "beats the ImageNet network is unknown: check with scripts/validate.py.")
        return out
    out["start_from_imagenet"] = out["decision"] == "imagenet"
    out["top_gain_points"] = [top_gain["mean"], top_gain["half"]]
    if same:
        out["sentences"].append(
            f"{top_name} is interchangeable with {', '.join(same)}: on the other catalog targets their measured "
            "transfer did not differ (paired t-test over targets, p >= 0.05), so do not read their order as a "
            "finding.")
    where = _against_zero(top_gain)
    out["sentences"].append(
        f"On the other catalog targets, pretraining on {top_name} changed few-shot accuracy by {_points(top_gain)} "
        f"on average against ImageNet weights alone (95% t-interval over targets): {where}"
        + ("." if where == "a measured gain" else
           "; starting from ImageNet is as good a choice on this evidence." if where == "within the noise" else
           "; starting from ImageNet is the better choice on this evidence."))
    return out
