"""Write a Validation as validation.json, validation.csv, report.md and a similarity-vs-accuracy scatter plot."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from finetune.transfer.validate import Validation


def _num(value, fmt):
    return "—" if value is None else format(value, fmt)


def verdict(scores: dict) -> str:
    """The validation's verdict in words: whether the sources' fine-tuned accuracies differ beyond seed noise (or
    whether no seed spread was measured at all)."""
    if scores.get("replicated") is False:
        return ("No seed spread was measured (one seed, or every seed gave the same accuracies): nothing tells the "
                "sources' differences from noise, so **no test of significance is possible**; run several distinct "
                "seeds (finetune.seeds=[0,1,2]).")
    if not scores.get("discriminates"):
        return (f"The spread of mean accuracies across sources ({scores['spread']:.3f}) does not exceed the seed "
                f"noise (one-way ANOVA over seeds p = {scores['anova_p']:.3f}; pooled seed std "
                f"{scores['seed_noise_std']:.3f}): **this target cannot discriminate sources under this protocol**, "
                "so the correlations below are not evidence for or against the ranking.")
    return (f"Sources differ beyond seed noise (one-way ANOVA p = {scores['anova_p']:.3g}; spread "
            f"{scores['spread']:.3f} vs pooled seed std {scores['seed_noise_std']:.3f}).")


def markdown(v: Validation) -> str:
    """report.md of a validation: the verdict, the ranking against the measured accuracies, the statistics."""
    s = v.scores
    ft = v.config.get("finetune", {})
    lines = [
        f"# Validation of the source ranking for `{v.target}`",
        "",
        f"Protocol: strategy `{ft.get('strategy')}` (top blocks {ft.get('top_blocks')}), seeds {ft.get('seeds')}, "
        f"MobileNetV2 alpha {v.config['backbone']['alpha']} at {v.config['backbone']['image_size']} px. "
        f"Wall time {v.seconds / 60:.1f} min.",
        "",
        "| rank | source | distance | similarity | target accuracy (mean ± std) | per seed |",
        "|---|---|---|---|---|---|",
    ]
    for r in v.rows():
        lines.append(f"| {_num(r['rank'], 'd')} | {r['source']} | {_num(r['distance'], '.3f')} | "
                     f"{_num(r['similarity'], '.4f')} | {r['accuracy_mean']:.3f} ± {r['accuracy_std']:.3f} | "
                     f"{', '.join(f'{a:.3f}' for a in r['accuracies'])} |")
    lines += [
        "",
        "## Does the ranking predict transfer accuracy?",
        "",
        verdict(s),
        "",
        f"- Spearman rho = {s['spearman_rho']:.3f} (p = {s['spearman_p']:.3f})",
        f"- Kendall tau = {s['kendall_tau']:.3f} (p = {s['kendall_p']:.3f})",
        f"- weighted tau = {s['weighted_tau']:.3f}",
        f"- top-1 regret = {s['top1_regret']:.1f} accuracy points (best source by accuracy: "
        f"{v.ranking.sources[s['best_index']].name}; recommended: {v.ranking.sources[s['recommended_index']].name})",
        "",
        "![similarity vs accuracy](similarity_vs_accuracy.png)",
        "",
    ]
    return "\n".join(lines)


def plot(v: Validation, path: Path) -> None:
    """similarity_vs_accuracy.png: each source's ranking score against its fine-tuned accuracy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in v.rows() if not r.get("baseline")]
    base = next(r for r in v.rows() if r.get("baseline"))
    fig, ax = plt.subplots(figsize=(7, 5))
    x = [r.get("score", r["similarity"]) for r in rows]  # an older validation.json has no score
    ax.errorbar(x, [r["accuracy_mean"] for r in rows], yerr=[r["accuracy_std"] for r in rows], fmt="o", capsize=4)
    for r, xi in zip(rows, x):
        ax.annotate(r["source"], (xi, r["accuracy_mean"]), textcoords="offset points", xytext=(5, 5))
    ax.axhline(base["accuracy_mean"], color="grey", linestyle="--", label=f"ImageNet baseline {base['accuracy_mean']:.3f}")
    ax.set_xlabel(f"the ranking's score, higher ranks first ({v.ranking.distance_label})"[:110])
    ax.set_ylabel(f"target ({v.target}) test accuracy")
    ax.set_title(f"rho = {v.scores['spearman_rho']:.2f}, regret = {v.scores['top1_regret']:.1f} points")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_validation(v: Validation, out_dir) -> dict[str, Path]:
    """Write the validation's files (validation.json/.csv, report.md, the figure)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {n: out / n for n in ("validation.json", "validation.csv", "report.md", "similarity_vs_accuracy.png")}
    paths["validation.json"].write_text(json.dumps(v.to_dict(), indent=2))
    with paths["validation.csv"].open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["rank", "source", "distance", "similarity", "accuracy_mean", "accuracy_std", "accuracies"])
        for r in v.rows():
            writer.writerow([r["rank"], r["source"], r["distance"], r["similarity"], f"{r['accuracy_mean']:.4f}",
                             f"{r['accuracy_std']:.4f}", " ".join(f"{a:.4f}" for a in r["accuracies"])])
    paths["report.md"].write_text(markdown(v))
    plot(v, paths["similarity_vs_accuracy.png"])
    return paths
