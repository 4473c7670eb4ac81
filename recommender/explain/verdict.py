"""The verdict from a predicted gain: what to start from on *this* target, and the command to run next.

The rule is the evidence's (chosen by nested leave-one-target-out on decision regret, docs/gain/gain.md): start
from the source with the highest predicted gain when that prediction clears `threshold` × the interval's
half-width, else from ImageNet. Every number in the sentence says what it is: predicted for this target, or
measured on other targets.
"""
from __future__ import annotations

import shlex

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
    """`base` (recommender.evidence.verdict: the gains measured on other targets, interchangeability) with the
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
