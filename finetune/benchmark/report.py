"""Write a Benchmark: benchmark.json, benchmark.csv, report.md, report.html and the figures."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from scipy import stats

from recommender.common.html import markdown_to_html
from recommender.common.plotting import colour, figure, save_png

from finetune.transfer.adapted import BASELINE
from finetune.benchmark.mix import DEFAULT, MIX, PRIOR, SHIPPED_GAIN, SHIPPED_PRIOR_SCORE
from finetune.benchmark.results import NAIVE, REFERENCE_DISTANCE, Benchmark
from finetune.benchmark.serialise import evidence_json, to_json
from finetune.transferability import REGISTRY
from finetune.benchmark.ground_truth import Protocol, few_shot

METRICS = ("weighted_tau", "kendall_tau", "pearson", "top1_relative_accuracy", "top1_regret")


def _kind(score: str) -> str:
    if score == PRIOR:
        return "catalog prior (leave-one-target-out)"
    if score == MIX:
        return "catalog prior + distance (nested leave-one-target-out)"
    if score == DEFAULT:
        return "shipped quick ranking, prior_mix (catalog evidence)"
    if score == SHIPPED_PRIOR_SCORE:
        return "shipped prior_score (catalog evidence + each source's network)"
    if score == SHIPPED_GAIN:
        return "shipped default, gain: the predicted gain (gain model of the evidence + each source's network)"
    if score in NAIVE:
        return "naive baseline"
    return "model-based" if score in REGISTRY else "model-free distance"


def _ci(entry: dict, metric: str, fmt: str = ".2f") -> str:
    lo, hi = entry.get(f"{metric}_ci95", [np.nan, np.nan])
    return f"{entry[f'mean_{metric}']:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"


def summary_table(summary: dict) -> list[str]:
    """Markdown rows, scores sorted by mean weighted tau (best first)."""
    lines = ["| score | kind | weighted τ [95% CI] | Kendall τ [95% CI] | Pearson | top-1 rel. accuracy | "
             "top-1 regret, points [95% CI] |", "|---|---|---|---|---|---|---|"]
    order = sorted(summary, key=lambda s: -np.nan_to_num(summary[s]["mean_weighted_tau"], nan=-9))
    missing = [n for n in order if not np.isfinite(summary[n]["mean_weighted_tau"])]
    if len(missing) == len(order):
        return ["No score could be evaluated: on no target did the sources' accuracies differ beyond noise."]
    order = [n for n in order if n not in missing]
    if missing:
        lines[:0] = [f"Not evaluated (no target on which their ranking could be scored): {', '.join(missing)}.", ""]
    for name in order:
        e = summary[name]
        lines.append(f"| {name} | {_kind(name)} | {_ci(e, 'weighted_tau')} | {_ci(e, 'kendall_tau')} | "
                     f"{e['mean_pearson']:.2f} | {_ci(e, 'top1_relative_accuracy', '.4f')} | "
                     f"{_ci(e, 'top1_regret')} |")
    return lines


def _target_section(name: str, t: dict, run_sources: list[str]) -> list[str]:
    lines = [f"### {name}", ""]
    verdict = ("sources **are distinguishable**" if t["discriminates"]
               else "sources are **not distinguishable**: left out of the means")
    lines.append(f"{t['test']}: p = {t['friedman_p']:.3g}, {verdict}. Spread of mean accuracies "
                 f"{t['spread_points']:.1f} points; best source `{t['best_source']}`; "
                 + ("at least one source beats ImageNet (95% interval of the gain above 0)."
                    if t["any_source_beats_imagenet"] else "**no source beats the ImageNet network**."))
    lines += ["", "| network | accuracy ± 95% CI | gain over ImageNet, points ± 95% CI | −EMD rank |",
              "|---|---|---|---|"]
    emd = t["scores"].get(REFERENCE_DISTANCE, {})
    emd_rank = {s: i + 1 for i, s in enumerate(sorted(emd, key=lambda s: -emd[s]))}
    order = sorted(run_sources, key=lambda s: -t["accuracy"][s])
    lines.append(f"| {BASELINE} (baseline) | {t['accuracy'][BASELINE]:.4f} ± {t['ci95'][BASELINE]:.4f} | — | — |")
    for s in order:
        lines.append(f"| {s} | {t['accuracy'][s]:.4f} ± {t['ci95'][s]:.4f} | "
                     f"{100 * t['gain_over_imagenet'][s]:+.2f} ± {100 * t['gain_ci95'][s]:.2f} | "
                     f"{emd_rank.get(s, '—')} |")
    lines.append("")
    return lines


def _weight(c: float) -> str:
    return "∞ (distance alone)" if c == float("inf") else "0⁺ (prior; distance breaks ties)" if c <= 1e-6 \
        else f"{c:g}"


def mix_section(head: dict, evidence: dict) -> list[str]:
    """Which distance and weight the prior mix chose for each held-out target, and what each part contributes."""
    mix = head.get("mix")
    if not mix:
        return []
    s = head["summary"]
    lines = ["## The prior + distance mix (nested leave-one-target-out)", "",
             "For every held-out target, the distance and its weight c (∞ = the distance alone) with the best "
             "mean weighted τ on the other targets, whose priors leave out both targets (`finetune/benchmark/mix.py`). What "
             "each part contributes, on the same targets:", "",
             "| ranking | mean weighted τ [95% CI] | mean top-1 regret, points [95% CI] |", "|---|---|---|"]
    for name, what in ((MIX, "prior + distance (LOTO)"), (PRIOR, "prior alone (LOTO)"),
                       (mix["all_targets"]["distance"], "that distance alone"), (REFERENCE_DISTANCE, "class-mean EMD")):
        if name in s:
            lines.append(f"| {what}: `{name}` | {_ci(s[name], 'weighted_tau')} | {_ci(s[name], 'top1_regret')} |")
    lines += ["", "| held-out target | distance chosen (its inner weighted τ alone) | c | inner mean weighted τ of the mix |", "|---|---|---|---|"]
    for t, f in mix["folds"].items():
        lines.append(f"| {t} | {f['distance']} (alone: {f['distance_weighted_tau']:.2f}) | {_weight(f['c'])} | "
                     f"{f['mean_weighted_tau']:.2f} |")
    a = mix["all_targets"]
    lines += ["", f"Fitted on every target: `{a['distance']}`, c = {_weight(a['c'])}.", ""]
    if evidence:
        d = evidence["default"]
        shipped_c = float("inf") if d["all_targets"]["c"] is None else d["all_targets"]["c"]
        ranked = sorted(d["candidates"].items(), key=lambda kv: -kv[1])
        lines += [f"**The default ranking, earned**: of the rankings `recommend` can run without training a source "
                  f"(the mix, the prior alone, each distance alone), each scored on targets it never looked at, "
                  f"`{d['score']}` has the best mean weighted τ ({ranked[0][1]:.2f}; runner-up `{ranked[1][0]}` "
                  f"{ranked[1][1]:.2f}; class-mean EMD {d['candidates'].get(REFERENCE_DISTANCE, float('nan')):.2f}). "
                  f"`recommend distance=prior_mix` (the quick ranking; the default is distance=gain) runs it from `catalog_evidence.json`: distance "
                  f"`{d['all_targets']['distance']}`, c = {_weight(shipped_c)}.", ""]
    return lines


def ground_truth_explained(result: Benchmark, head: dict) -> list[str]:
    """Do sources transfer well because stage 1 disturbs the ImageNet features least?"""
    change = result.feature_change
    if not change:
        return []
    sources = sorted({s for per in change.values() for s in per})
    cka = {s: float(np.mean([per[s] for per in change.values() if s in per])) for s in sources}
    gain = {s: float(np.mean([t["gain_over_imagenet"][s] for t in head["targets"].values()
                              if s in t["gain_over_imagenet"]])) for s in sources}
    lines = ["## Why sources transfer the way they do", "",
             "How far stage 1 moved each source network's features away from the ImageNet network's: linear CKA "
             "(Kornblith et al. 2019) between the two networks' pooled features on a fixed probe of each target's "
             "images (400, seeded), averaged over targets; 1 = unchanged up to rotation and scale.", "",
             "| source | mean CKA with ImageNet features | mean gain over ImageNet, points | stage-1 accuracy on "
             "the source's own test split |", "|---|---|---|---|"]
    own = result.stage1_accuracy
    lines += [f"| {s} | {cka[s]:.3f} | {100 * gain[s]:+.2f} | {own.get(s, float('nan')):.3f} |"
              for s in sorted(sources, key=lambda s: -gain[s])]
    if len(sources) > 2:
        rho, p = stats.spearmanr([cka[s] for s in sources], [gain[s] for s in sources])
        verdict = ("sources whose training changed the ImageNet features least transferred best" if rho > 0 and
                   p < 0.05 else "sources whose training changed the features most transferred best" if p < 0.05
                   else "how much stage 1 changed the features does not explain, at this sample size, which "
                        "sources transferred best")
        lines += ["", f"Spearman ρ between the first two columns over {len(sources)} sources: {rho:.2f} "
                  f"(p = {p:.3f}): {verdict}."]
        if all(s in own for s in sources):
            rho_own, p_own = stats.spearmanr([own[s] for s in sources], [gain[s] for s in sources])
            lines.append(f"Between the source's own stage-1 accuracy and its gain: ρ = {rho_own:.2f} "
                         f"(p = {p_own:.3f}); " + ("a source that is learned well also transfers well." if
                                                   rho_own > 0 and p_own < 0.05 else
                                                   "how well stage 1 learned the source does not predict its "
                                                   "transfer at this sample size."))
    return lines + [""]


def markdown(result: Benchmark, data: dict) -> str:
    """report.md of the benchmark: the answer first, the protocol, the headline table, the paired tests,
    the mix, the sensitivity to the protocol and the figures."""
    cfg = result.config
    bench = cfg["benchmark"]
    head = result.protocols[result.headline]
    proto = data["protocol"]
    n_all = len(result.runs)
    excluded = head["excluded_targets"]
    lines = [
        "# Transfer benchmark: which score predicts the best source?",
        "",
        f"**Answer ({result.headline}):** " + _headline_words(head) + _default_words(head),
        "",
        f"{n_all} target(s), each against every other listed dataset as a source (leave-one-dataset-out). "
        + wall_time(result),
        "",
        "## Protocol",
        "",
        (f"- **Ground truth** (`fewshot`): for every target, k labelled images per class are drawn "
         f"from its train+val pool, {bench['fewshot']['episodes']} seeded episodes per k; a logistic regression "
         f"(standardised features, L2, C = {bench['fewshot']['c']}) is fitted on the support images' pooled "
         "features of each network and scored on the target's test split. **The same episodes for every source "
         "and for the ImageNet network**, so all differences are paired."
         if few_shot(bench) else
         f"- **Ground truth** (`finetune`): stage 2 of `finetune` (the target's train split, early stopping on "
         f"its validation split, one evaluation on its test split) from every stage-1 network and from ImageNet, "
         f"over seeds {cfg['finetune']['seeds']}; the same seeds for every network, so columns pair like "
         "episodes."),
        f"- **Source networks**: MobileNetV2 α {cfg['backbone']['alpha']} at {cfg['finetune']['image_size']} px, "
        f"top {list(bench['top_blocks'])} blocks and a new head trained on each source (stage 1 of `finetune`, "
        f"seed {bench['stage1_seed']}); the bottom stays ImageNet.",
        f"- **Headline protocol: {result.headline}** (top {proto['top_blocks']} blocks, k = {proto['k']}; "
        "`benchmark.headline`). The more of the network a source adapts, the closer the protocol is to what a "
        "user who pretrains on a source does; the largest k gives the least episode noise. The other protocols "
        "are shown under *Protocol sensitivity*.",
        "- **Distinguishable sources**: Friedman test over episodes (episodes as blocks, sources as treatments), "
        "α = 0.05. Targets whose sources are not distinguishable are listed and left out of the means.",
        "- **Per target and score**: Kendall τ, weighted τ (`scipy.stats.weightedtau`, hyperbolic weights, as "
        "in the LogME and SFDA papers), Pearson r, top-1 relative accuracy (accuracy of the score's pick / best "
        "source's accuracy) and top-1 regret in points. Higher score = predicted better transfer; EMD enters as "
        "−EMD.",
        "- **Intervals**: per network, 95% Student-t over episodes; over targets, 95% percentile bootstrap "
        f"({bench['bootstrap']} resamples of each target's episodes, paired across its sources). These intervals "
        "hold the stage-1 networks (one seed) and the test split fixed: they measure episode noise only.",
        "",
        f"## Headline ({result.headline}): mean over the {n_all - len(excluded)} target(s) whose sources differ",
        "",
        "![every score's mean weighted tau with its 95% interval](scores_forest.png)",
        "",
        *summary_table(head["summary"]),
        "",
        f"Left out (sources not distinguishable): {len(excluded)} — {', '.join(excluded) if excluded else 'none'}.",
        "",
        _headline_words(head),
        "",
        *against_emd(head),
        "",
        *mix_section(head, evidence_json(result)),
        *ground_truth_explained(result, head),
        "![weighted tau per target and score](weighted_tau_heatmap.png)",
        "",
        "## Protocol sensitivity",
        "",
        "| protocol | targets that discriminate | mean spread, points | sources significantly below ImageNet | "
        "sources significantly above | class-mean EMD weighted τ | logme weighted τ | order vs headline "
        "(mean Kendall τ) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, p in result.protocols.items():
        targets = p["targets"].values()
        below = sum(sum(g + h < 0 for g, h in zip(t["gain_over_imagenet"].values(), t["gain_ci95"].values()))
                    for t in targets)
        above = sum(sum(g - h > 0 for g, h in zip(t["gain_over_imagenet"].values(), t["gain_ci95"].values()))
                    for t in targets)
        pairs = sum(len(t["gain_over_imagenet"]) for t in targets)
        agreement = result.sensitivity.get(label)
        agree = "— (headline)" if agreement is None else f"{np.mean(list(agreement.values())):.2f}"
        emd = p["summary"].get(REFERENCE_DISTANCE, {}).get("mean_weighted_tau", np.nan)
        logme = p["summary"].get("logme", {}).get("mean_weighted_tau", np.nan)
        lines.append(f"| {label} | {len(p['targets']) - len(p['excluded_targets'])}/{len(p['targets'])} | "
                     f"{np.mean([t['spread_points'] for t in targets]):.1f} | {below}/{pairs} | {above}/{pairs} | "
                     f"{emd:.2f} | {logme:.2f} | {agree} |")
    lines += ["", "![accuracy against k](accuracy_vs_k.png)", "", "## Per target", "",
              "Each target's scatter plots (every score against measured accuracy) are linked below its table, "
              "not embedded: 25 panels a target.", ""]
    for run in result.runs:
        lines += _target_section(run.target, head["targets"][run.target], run.sources)
        lines += [f"Scores against accuracy: [scatter_{_safe(run.target)}.png](scatter_{_safe(run.target)}.png)",
                  ""]
    lines += ["## Cost", "", f"- stage-1 networks: {result.timings['stage1_seconds']:.0f} s",
              *(f"- target {t}: {s:.0f} s" for t, s in result.timings["targets"].items()), ""]
    return "\n".join(lines)


def wall_time(result: Benchmark) -> str:
    """The run's wall time, and whether it was cold (everything computed) or read its networks and targets from
    the cache: a warm run's minutes are no measure of what a first run costs."""
    t = result.timings
    total = f"Wall time {result.seconds / 60:.1f} min"
    if "networks_cached" not in t:  # a run from before the counts were kept
        return total + "."
    nets, targets = f"{t['networks_cached']} of {t['networks']}", f"{len(t['targets_cached'])} of {len(result.runs)}"
    if t["networks_cached"] == 0 and not t["targets_cached"]:
        kind = "a cold run: every stage-1 network trained and every target measured here"
    elif t["networks_cached"] == t["networks"] and len(t["targets_cached"]) == len(result.runs):
        kind = "a warm run: every stage-1 network and every target's measurements read from the cache"
    else:
        kind = "partly cached"
    return (f"{total} ({kind}; stage-1 networks read from the cache: {nets}, targets: {targets}; stage-1 "
            f"{t['stage1_seconds'] / 60:.1f} min, targets {t.get('targets_seconds', 0) / 60:.1f} min).")


def plot_forest(result: Benchmark, path: Path) -> None:
    """Every score's mean weighted tau over the headline targets with its 95% bootstrap interval, best first."""
    summary = result.protocols[result.headline]["summary"]
    names = [n for n in sorted(summary, key=lambda n: -np.nan_to_num(summary[n]["mean_weighted_tau"], nan=-9))
             if np.isfinite(summary[n]["mean_weighted_tau"])]
    if not names:
        return
    colours = {"model-based": "tab:blue", "model-free distance": "tab:orange", "naive baseline": "tab:grey"}
    fig = figure((10, 1.2 + 0.3 * len(names)))
    ax = fig.add_subplot()
    ax.axvline(0, color="0.4", lw=1, ls="--")
    for y, name in enumerate(names):
        e = summary[name]
        lo, hi = e.get("weighted_tau_ci95") or [e["mean_weighted_tau"]] * 2
        colour_of = colours.get(_kind(name), "tab:green")
        # A percentile-bootstrap interval need not be centred on (or even hold) the mean: drawn as its own line.
        ax.hlines(y, lo, hi, color=colour_of, lw=2)
        ax.plot(e["mean_weighted_tau"], y, "o", color=colour_of)
    ax.set_yticks(range(len(names)), [f"{n} ({_kind(n)})" for n in names], fontsize=9)
    ax.invert_yaxis()
    # The score names take most of the width: title and axis label are short and placed on the figure, so
    # neither runs past the narrow plot area.
    ax.set_xlabel("mean weighted τ\n(95% bootstrap CI)", fontsize=10)
    fig.suptitle(f"Which score predicts the best source? ({result.headline})", fontsize=11)
    save_png(fig, path)


def against_emd(head: dict, reference: str = REFERENCE_DISTANCE) -> list[str]:
    """Each score against the recommender's EMD, paired over targets: the comparison that speaks to folders
    nobody has seen (the bootstrap above resamples episodes, not targets)."""
    from scipy import stats

    counted = [t for t, v in head["targets"].items() if v["discriminates"]]
    if len(counted) < 3 or reference not in head["summary"]:
        return []
    base = np.array([head["targets"][t]["weighted_tau"][reference] for t in counted])
    lines = [f"**Paired over the {len(counted)} targets, against `{reference}`** (difference in weighted τ, mean ± "
             "95% Student-t interval over targets; Wilcoxon signed-rank test; targets where the score is ahead):",
             "", "| score | difference | Wilcoxon p | ahead on |", "|---|---|---|---|"]
    for name in sorted(head["summary"], key=lambda n: -np.nan_to_num(head["summary"][n]["mean_weighted_tau"])):
        if name == reference:
            continue
        diff = np.array([head["targets"][t]["weighted_tau"][name] for t in counted]) - base
        half = stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff))
        p = float(stats.wilcoxon(diff).pvalue) if np.any(diff != 0) else 1.0
        lines.append(f"| {name} | {diff.mean():+.2f} ± {half:.2f} | {p:.3f} | {int((diff > 0).sum())}/{len(diff)} |")
    return lines


def _headline_words(head: dict) -> str:
    summary = head["summary"]
    if not summary or not any(np.isfinite(e["mean_weighted_tau"]) for e in summary.values()):
        return "No target discriminates its sources, so no score can be judged under this protocol."
    best = max(summary, key=lambda s: np.nan_to_num(summary[s]["mean_weighted_tau"], nan=-9))
    emd = summary.get(REFERENCE_DISTANCE)
    text = f"Best mean weighted τ: **{best}** ({_ci(summary[best], 'weighted_tau')})."
    if emd is not None:
        text += (f" The recommender's class-mean EMD (euclidean, 160 px): {_ci(emd, 'weighted_tau')}, top-1 "
                 f"regret {_ci(emd, 'top1_regret')} points.")
    rand = summary.get("random")
    if rand is not None:
        text += f" A seeded random ranking: {_ci(rand, 'weighted_tau')}."
    return text


def _default_words(head: dict) -> str:
    """The shipped default's figure, when the run scored it (distance=gain, from the evidence)."""
    entry = head["summary"].get(SHIPPED_GAIN)
    if entry is None or not np.isfinite(entry["mean_weighted_tau"]):
        return ""
    return (f" The shipped default (`gain`, the predicted gain): {_ci(entry, 'weighted_tau')}, top-1 regret "
            f"{_ci(entry, 'top1_regret')} points.")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def plot_heatmap(result: Benchmark, path: Path) -> None:
    """weighted_tau_heatmap.png: each score's weighted tau on each target (headline protocol)."""
    head = result.protocols[result.headline]
    targets = [r.target for r in result.runs]
    scores = sorted(head["summary"] or {n for r in result.runs for n in r.scores[next(iter(r.scores))]},
                    key=lambda s: -np.nan_to_num(head["summary"].get(s, {}).get("mean_weighted_tau", 0), nan=-9))
    grid = np.array([[head["targets"][t]["weighted_tau"][s] for s in scores] for t in targets])
    fig = figure((2.0 + 0.62 * len(scores), 2.4 + 0.42 * len(targets)))
    ax = fig.add_subplot()
    image = ax.imshow(grid, cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(len(scores)), scores, rotation=60, ha="right", fontsize=9)
    labels = [t + ("" if head["targets"][t]["discriminates"] else " (n.d.)") for t in targets]
    ax.set_yticks(range(len(targets)), labels, fontsize=9)
    for i in range(len(targets)):
        for j in range(len(scores)):
            ax.text(j, i, f"{round(grid[i, j], 1) + 0.0:.1f}", ha="center", va="center", fontsize=9,
                    color="white" if abs(grid[i, j]) > 0.6 else "black")
    fig.colorbar(image, ax=ax, label="weighted τ")
    ax.set_title(f"weighted τ of each score vs transfer accuracy ({result.headline}); n.d. = not distinguishable",
                 fontsize=9)
    save_png(fig, path)


def plot_scatter(result: Benchmark, run, path: Path) -> None:
    """scatter_<target>.png: each score against the sources' accuracy on one target, one panel per score."""
    from matplotlib.lines import Line2D

    head = result.protocols[result.headline]["targets"][run.target]
    scores = list(head["scores"])
    cols = 4
    rows = int(np.ceil(len(scores) / cols))
    fig = figure((3.2 * cols, 2.6 * rows))
    acc = np.array([head["accuracy"][s] for s in run.sources])
    err = np.array([head["ci95"][s] for s in run.sources])
    colours = [colour(j) for j in range(len(run.sources))]
    for i, name in enumerate(scores):
        ax = fig.add_subplot(rows, cols, i + 1)
        x = np.array([head["scores"][name][s] for s in run.sources])
        # One call per panel, not one errorbar per source: the figures took most of the report's time.
        ax.vlines(x, acc - err, acc + err, colors=colours, lw=1)
        ax.scatter(x, acc, c=colours, s=16, zorder=3)
        ax.axhline(head["accuracy"][BASELINE], color="grey", ls="--", lw=0.8)
        ax.set_title(f"{name}: wτ {head['weighted_tau'][name]:.2f}", fontsize=10)
        ax.tick_params(labelsize=9)
    # One legend for the figure, below the panels, where it covers no point.
    fig.legend(handles=[Line2D([], [], color=c, marker="o", ls="", ms=6, label=s)
                        for s, c in zip(run.sources, colours)], fontsize=10, loc="lower center",
               ncol=min(len(run.sources), 5), bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(f"{run.target}: score vs accuracy ({result.headline}, 95% CI; dashed: ImageNet)", fontsize=11)
    height = fig.get_figheight()  # room in inches: the legend below (two rows), the title above
    fig.tight_layout(rect=(0, 0.8 / height, 1, 1 - 0.35 / height))
    fig.legends[0].set_bbox_to_anchor((0.5, 0.05 / height))
    save_png(fig, path, layout=False)


def plot_accuracy_vs_k(result: Benchmark, path: Path) -> None:
    """Mean accuracy against k for each source and the ImageNet network, one panel per target, under the
    headline's stage-1 protocol (the other protocols' lines made each panel unreadable); one legend below."""
    from matplotlib.lines import Line2D

    runs = result.runs
    measured_blocks = sorted({p.top_blocks for p in runs[0].accuracy})
    b = Protocol.parse(result.headline).top_blocks if str(result.headline).startswith("top") else measured_blocks[-1]
    b = b if b in measured_blocks else measured_blocks[-1]
    cols = min(5, len(runs))
    rows = int(np.ceil(len(runs) / cols))
    fig = figure((3.2 * cols, 2.8 * rows + 1.0))
    sources = list(dict.fromkeys(s for run in runs for s in run.sources))  # one colour per source, every panel
    for i, run in enumerate(runs):
        ax = fig.add_subplot(rows, cols, i + 1)
        shots = [p for p in run.accuracy if p.top_blocks == b and not p.is_finetune]
        if not shots:
            continue
        x = [p.k for p in shots]
        for j, name in enumerate([BASELINE, *run.sources]):
            y = [(run.accuracy[p].baseline if j == 0 else run.accuracy[p].sources[j - 1]).mean() for p in shots]
            ax.plot(x, y, "-", color="black" if name == BASELINE else colour(sources.index(name)),
                    lw=2 if name == BASELINE else 1.2, marker=".")
        ax.set_title(run.target, fontsize=10)
        ax.set_xlabel("k (images per class)", fontsize=9)
        ax.tick_params(labelsize=9)
    handles = [Line2D([], [], color="black", lw=2, label=BASELINE)]
    handles += [Line2D([], [], color=colour(j), lw=2, label=n) for j, n in enumerate(sources)]
    fig.legend(handles=handles, fontsize=10, loc="lower center", ncol=min(len(handles), 6))
    fig.suptitle(f"mean accuracy against k per source (top {b} blocks; black: ImageNet)", fontsize=11)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    save_png(fig, path, layout=False)


def write_benchmark(result: Benchmark, out_dir) -> dict[str, Path]:
    """Write the benchmark's files (benchmark.json/.csv, report.md/.html, the figures)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = to_json(result)
    paths = {n: out / n for n in ("benchmark.json", "benchmark.csv", "report.md", "report.html",
                                  "weighted_tau_heatmap.png", "accuracy_vs_k.png")}
    paths["benchmark.json"].write_text(json.dumps(data, indent=1, default=float))
    evidence = evidence_json(result)
    if evidence:  # what `recommend` reads; conf/evidence/catalog.json is the one that ships
        paths["catalog_evidence.json"] = out / "catalog_evidence.json"
        paths["catalog_evidence.json"].write_text(json.dumps(evidence, indent=1, default=float))
    with paths["benchmark.csv"].open("w", newline="") as fh:
        writer = csv.writer(fh)
        score_names = sorted({n for r in result.runs for sc in r.scores.values() for n in sc})
        writer.writerow(["protocol", "target", "network", "accuracy", "ci95", "gain_over_imagenet", "gain_ci95",
                         "discriminates", *score_names])
        for label, p in result.protocols.items():
            for run in result.runs:
                t = p["targets"][run.target]
                writer.writerow([label, run.target, BASELINE, f"{t['accuracy'][BASELINE]:.5f}",
                                 f"{t['ci95'][BASELINE]:.5f}", "", "", t["discriminates"], *[""] * len(score_names)])
                for s in run.sources:
                    writer.writerow([label, run.target, s, f"{t['accuracy'][s]:.5f}", f"{t['ci95'][s]:.5f}",
                                     f"{t['gain_over_imagenet'][s]:.5f}", f"{t['gain_ci95'][s]:.5f}",
                                     t["discriminates"], *[f"{t['scores'][n][s]:.6g}" if n in t["scores"] else ""
                                                           for n in score_names]])
    plot_heatmap(result, paths["weighted_tau_heatmap.png"])
    plot_accuracy_vs_k(result, paths["accuracy_vs_k.png"])
    paths["scores_forest.png"] = out / "scores_forest.png"
    plot_forest(result, paths["scores_forest.png"])
    for run in result.runs:
        paths[f"scatter_{run.target}"] = out / f"scatter_{_safe(run.target)}.png"
        plot_scatter(result, run, paths[f"scatter_{run.target}"])
    text = markdown(result, data)
    paths["report.md"].write_text(text)
    paths["report.html"].write_text(markdown_to_html(text, out, "Transfer benchmark"))
    return paths


def console_summary(result: Benchmark) -> str:
    """The console's summary: the headline protocol, the targets left out, and every score's row of the headline
    table (or why no score can be evaluated)."""
    head = result.protocols[result.headline]
    excluded = head["excluded_targets"]
    first = (f"Transfer benchmark, headline protocol {result.headline}: {len(result.runs)} targets, "
             f"{len(excluded)} left out (sources not distinguishable)")
    if len(excluded) == len(result.runs):
        # Every score's statistics would be NaN: say why there are none instead of printing a table of them.
        tuned = not few_shot(result.config["benchmark"])
        what, noise, more = (("fine-tuned", "seeds'", "more seeds (finetune.seeds)") if tuned else
                             ("few-shot", "episodes'", "more episodes (benchmark.fewshot.episodes)"))
        return "\n".join([first, f"No score can be evaluated: on every target the sources' {what} accuracies did "
                          f"not differ beyond the {noise} noise (Friedman test, p >= 0.05), so no ranking is "
                          f"better or worse than another here. Add targets, or {more}, for a target on which "
                          "sources differ."])
    return "\n".join([first, *summary_table(head["summary"])])
