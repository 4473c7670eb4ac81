"""Write an ActiveResult: active_learning.json and .csv, report.md/.html, curves, contact sheet, to_label.csv."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from recommender.common.html import markdown_to_html
from recommender.common.plotting import colour, figure, save_mosaic, save_png

from finetune.active.loop import STRATEGIES, ActiveResult, choose

MEASURES = ("labels", "found", "r_precision", "average_precision", "lift", "pool_precision_at_50")


def expected_random_found(result: ActiveResult, labels: float) -> float:
    """Share of the pool's rare images found after `labels` labels when every label after the first ones is a
    uniform draw from the rest of the pool (means over seeds)."""
    p, n = np.mean(result.pool_positives), np.mean(result.pool_sizes)
    k0 = result.config["initial_positives"]
    first = k0 + result.config["initial_negatives"]
    return float(min(1.0, (k0 + max(labels - first, 0) * (p - k0) / (n - first)) / p))


def expected_random_labels(result: ActiveResult, share: float) -> float:
    """Labels uniform random labelling needs, in expectation, to have found `share` of the rare images."""
    p, n = np.mean(result.pool_positives), np.mean(result.pool_sizes)
    k0 = result.config["initial_positives"]
    first = k0 + result.config["initial_negatives"]
    return float(first + max(share * p - k0, 0) * (n - first) / (p - k0))


def to_json(result: ActiveResult) -> dict:
    """active_learning.json: the campaign's configuration, pools, and every curve's per-seed values."""
    out = {"target": result.target, "rare_classes": result.rare_classes, "start": result.start,
           "start_how": result.start_how, "pool_positives": result.pool_positives, "pool_sizes": result.pool_sizes,
           "seconds": result.seconds, "starts": {}, "config": result.config,
           "rounds_run": result.rounds_run, "notes": result.notes}
    for start, strategies in result.curves.items():
        out["starts"][start] = {}
        for strategy, per_seed in strategies.items():
            out["starts"][start][strategy] = {
                "rounds": result.summary(start, strategy),
                "labels_to_find_half": result.labels_to_half(start, strategy),
                "per_seed": per_seed,
            }
    return out


def best_strategy(result: ActiveResult, start: str = "source") -> str:
    """The strategy with the highest mean lift after the last round."""
    return max(result.curves[start], key=lambda s: result.summary(start, s)[-1]["lift"])


def _half(values: list) -> str:
    reached = [v for v in values if v is not None]
    if not reached:
        return "not reached"
    text = f"{np.mean(reached):.0f}"
    return text if len(reached) == len(values) else f"{text} ({len(reached)}/{len(values)} seeds reached it)"


def markdown(result: ActiveResult) -> str:
    """report.md of a campaign: the answer first, then the table of labels needed and lift, the curves, notes."""
    cfg = result.config
    pool_pos, pool_n = np.mean(result.pool_positives), np.mean(result.pool_sizes)
    random_half = expected_random_labels(result, 0.5)
    n_seeds = len(result.pool_positives)
    label = {"source": f"`{result.start}`", "imagenet": "ImageNet"}
    lines = [
        f"# Active learning: finding `{'+'.join(result.rare_classes)}` in `{result.target}`",
        "",
        f"Rare class subsampled to {cfg['rare_fraction']:.0%} of the target; pool of {pool_n:.0f} unlabelled images "
        f"holding {pool_pos:.0f} rare ones (means over {n_seeds} seeds); test set {cfg['test_fraction']:.0%}, "
        f"stratified. The learner starts with {cfg['initial_positives']} rare and {cfg['initial_negatives']} other "
        f"labelled images, labels {cfg['batch']} per round for "
        f"{cfg['rounds'] if result.rounds_run is None else result.rounds_run} rounds, and is a logistic regression "
        "on the start network's pooled features. Every strategy and both starts use the same subsample, split and "
        f"first labels per seed. Intervals: 95% Student-t over {n_seeds} seeds. Wall time {result.seconds:.0f} s.",
        "",
        f"Start networks: `{result.start}` ({result.start_how}), and the ImageNet network beside it on the same "
        "rounds.",
        "",
        *(f"**Note:** {note}\n" for note in result.notes),
        "`margin` and `uncertainty` order images identically for a binary model (|p - (1-p)| is smallest exactly "
        "where the binary entropy is largest), so their rows agree.",
        "",
        "## Labels needed to find half of the rare images in the pool",
        "",
        f"Random labelling needs about {random_half:.0f} labels in expectation (the first labels, then half of the "
        "rare images still to find, at the pool's base rate).",
        "",
        "Labels are counted at the end of each round (rounds of the batch size), so a strategy's figure is the "
        "first round that reached half.",
        "",
        "| start | strategy | labels (mean over seeds) | lift after the last round | R-precision | "
        "average precision | found after the last round | precision@50 of the unlabelled pool |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for start in result.curves:
        for strategy in result.curves[start]:
            last = result.summary(start, strategy)[-1]
            lines.append(
                f"| {label[start]} | {strategy} | {_half(result.labels_to_half(start, strategy))} | "
                f"{last['lift']:.2f} ± {last['lift_ci95']:.2f} | {last['r_precision']:.3f} ± "
                f"{last['r_precision_ci95']:.3f} | {last['average_precision']:.3f} ± "
                f"{last['average_precision_ci95']:.3f} | {last['found']:.2f} ± {last['found_ci95']:.2f} | "
                f"{last['pool_precision_at_50']:.2f} ± {last['pool_precision_at_50_ci95']:.2f} |")
    lines += ["", "![found and lift against labels](curves.png)", ""]
    if len(result.rare_classes) > 1:
        lines += ["## Sub-kinds found (last round, summed over seeds)", "",
                  "| start | strategy | " + " | ".join(result.rare_classes) + " |",
                  "|---|---|" + "---|" * len(result.rare_classes)]
        for start in result.curves:
            for strategy, per_seed in result.curves[start].items():
                counts = np.sum([s[-1]["found_by_kind"] for s in per_seed], axis=0)
                lines.append(f"| {label[start]} | {strategy} | " + " | ".join(str(int(c)) for c in counts) + " |")
        lines.append("")
    best = best_strategy(result)
    lines += [f"## What the model would send to a human next ({best}, seed {cfg['seed']})", "",
              "`to_label.csv` lists the next batch; `top50.png` shows the 50 unlabelled pool images the final "
              "model scores highest, true rare images marked in green.", "", "![top 50](top50.png)", ""]
    return "\n".join(lines)


def plot_curves(result: ActiveResult, path: Path) -> None:
    """curves.png: share of the rare images found and lift against labels spent, per strategy and start."""
    fig = figure((11, 4.2))
    axes = [fig.add_subplot(1, 2, i + 1) for i in range(2)]
    for start, style in zip(result.curves, ("-", "--")):
        for strategy in result.curves[start]:
            rows = result.summary(start, strategy)
            x = [r["labels"] for r in rows]
            for ax, key in zip(axes, ("found", "lift")):
                mean = np.array([r[key] for r in rows])
                half = np.nan_to_num(np.array([r[f"{key}_ci95"] for r in rows]))
                c = colour(STRATEGIES.index(strategy))
                ax.plot(x, mean, style, color=c, marker=".", label=f"{strategy} ({start})")
                ax.fill_between(x, mean - half, mean + half, color=c, alpha=0.12)
    first = result.config["initial_positives"] + result.config["initial_negatives"]
    rounds = result.config["rounds"] if result.rounds_run is None else result.rounds_run
    last = first + rounds * result.config["batch"]
    xs = np.linspace(first, last, 20)
    axes[0].plot(xs, [expected_random_found(result, x) for x in xs], ":", color="grey", label="random, expected")
    axes[0].set_ylabel("share of the pool's rare images found")
    axes[1].set_ylabel("lift (R-precision / base rate), test set")
    axes[1].axhline(1, color="grey", lw=0.8)
    for ax in axes:
        ax.set_xlabel("labels spent")
    axes[0].legend(fontsize=9, ncol=2)
    fig.suptitle(f"{result.target}: finding {'+'.join(result.rare_classes)} (solid: {result.start}; dashed: "
                 "ImageNet; bands: 95% CI over seeds)", fontsize=9)
    save_png(fig, path)


def plot_top50(result: ActiveResult, path: Path, strategy: str) -> None:
    """top50.png: the 50 pool images the final model ranks first, the true rare ones marked."""
    from recommender.explain.figures import thumbnail

    task = result.tasks[0]
    view = result.final[("source", strategy)]
    order = np.argsort(-view["p_rare"], kind="stable")[:50]
    positions = view["unlabelled"][order]
    tiles, captions = [], []
    for i, (pos, p) in enumerate(zip(positions, view["p_rare"][order])):
        if i % 10 == 0:
            tiles.append([])
            captions.append([])
        tiles[-1].append(thumbnail(result.refs[task.images[pos]], 80))
        rare = bool(task.is_rare[pos])
        captions[-1].append((f"{i + 1}. p={p:.2f}\n{'RARE' if rare else 'other'}", "green" if rare else "black"))
    hits = int(task.is_rare[positions].sum())
    save_mosaic(tiles, captions, f"Top 50 of the unlabelled pool after the last round ({strategy}): {hits} rare",
                path)


def write_active_learning(result: ActiveResult, out_dir) -> dict[str, Path]:
    """Write the campaign's files (JSON, CSV, report.md/.html, figures, the next batch to label)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {n: out / n for n in ("active_learning.json", "active_learning.csv", "report.md", "report.html",
                                  "curves.png", "top50.png", "to_label.csv")}
    paths["active_learning.json"].write_text(json.dumps(to_json(result), indent=1, default=float))
    with paths["active_learning.csv"].open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["start", "strategy", "round", *MEASURES, *(f"{m}_ci95" for m in MEASURES[1:])])
        for start in result.curves:
            for strategy in result.curves[start]:
                for r in result.summary(start, strategy):
                    writer.writerow([start, strategy, r["round"], *(r[m] for m in MEASURES),
                                     *(r[f"{m}_ci95"] for m in MEASURES[1:])])
    best = best_strategy(result)
    view = result.final[("source", best)]
    task = result.tasks[0]
    rng = np.random.default_rng([int(result.config["seed"]), 99])
    batch = choose(best, view["p_rare"], int(result.config["batch"]), rng,
                   float(result.config["proportional_random_share"]))
    with paths["to_label.csv"].open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["order", "image", "p_rare"])
        for i, b in enumerate(batch, start=1):
            writer.writerow([i, result.refs[task.images[view["unlabelled"][b]]], f"{view['p_rare'][b]:.4f}"])
    plot_curves(result, paths["curves.png"])
    plot_top50(result, paths["top50.png"], best)
    text = markdown(result)
    paths["report.md"].write_text(text)
    paths["report.html"].write_text(markdown_to_html(text, out, f"Active learning on {result.target}"))
    return paths


def console_summary(result: ActiveResult) -> str:
    """The console's summary: the start, and per strategy the labels needed and the final lift."""
    lines = [f"Active learning on {result.target}: rare class {'+'.join(result.rare_classes)}, start "
             f"{result.start} ({result.start_how})", *(f"note: {n}" for n in result.notes)]
    for start in result.curves:
        for strategy in result.curves[start]:
            last = result.summary(start, strategy)[-1]
            lines.append(f"  {start:8s} {strategy:12s} lift {last['lift']:.2f} ± {last['lift_ci95']:.2f}  "
                         f"found {last['found']:.2f}  labels to half: {_half(result.labels_to_half(start, strategy))}")
    return "\n".join(lines)
