"""Turn a Ranking into what a person reads: a console table, JSON/CSV files, a heatmap and report.md."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from .ranking import Ranking

TABLE_HEADER = ("rank", "source", "EMD", "similarity", "classes", "images", "skipped")


def format_table(ranking: Ranking) -> str:
    rows = [TABLE_HEADER] + [
        (str(s.rank), s.name, f"{s.emd:.3f}", f"{s.similarity:.4f}", str(s.n_classes), str(s.n_images),
         str(s.n_skipped))
        for s in ranking.sources
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(TABLE_HEADER))]
    lines = ["  ".join(cell.rjust(w) if i != 1 else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    t = ranking.target
    head = (f"Target: {t.name} ({len(t.class_names)} classes, {t.n_images} images, {t.n_skipped} skipped)"
            f" — sources ranked by EMD, closest first")
    return "\n".join([head, *lines, *(f"note: {n}" for n in ranking.notes)])


def markdown_table(ranking: Ranking) -> str:
    lines = ["| " + " | ".join(TABLE_HEADER) + " |", "|" + "---|" * len(TABLE_HEADER)]
    lines += [f"| {s.rank} | {s.name} | {s.emd:.3f} | {s.similarity:.4f} | {s.n_classes} | {s.n_images} | "
              f"{s.n_skipped} |" for s in ranking.sources]
    return "\n".join(lines)


def write_reports(ranking: Ranking, out_dir: str | Path, top_flows: int = 5) -> dict[str, Path]:
    """Write ranking.json, ranking.csv, distances.csv, distances.png and report.md into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in
             ("ranking.json", "ranking.csv", "distances.csv", "distances.png", "report.md")}
    paths["ranking.json"].write_text(json.dumps(ranking.to_dict(), indent=2, default=_json_default))
    with paths["ranking.csv"].open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["rank", "source", "emd", "similarity", "n_classes", "n_images", "n_skipped"])
        for s in ranking.sources:
            writer.writerow([s.rank, s.name, f"{s.emd:.6f}", f"{s.similarity:.6f}", s.n_classes, s.n_images,
                             s.n_skipped])
    with paths["distances.csv"].open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["dataset", *ranking.distance_names])
        for name, row in zip(ranking.distance_names, ranking.distances):
            writer.writerow([name, *(f"{v:.6f}" for v in row)])
    plot_distance_heatmap(ranking, paths["distances.png"])
    paths["report.md"].write_text(markdown_report(ranking, top_flows))
    return paths


def markdown_report(ranking: Ranking, top_flows: int = 5) -> str:
    cfg = ranking.config
    backbone = cfg.get("backbone", {})
    emd = cfg.get("emd", {})
    parts = [
        f"# Pretraining sources for `{ranking.target.name}`",
        "",
        f"Features: MobileNetV2 (alpha {backbone.get('alpha')}, {backbone.get('image_size')} px, "
        f"weights {backbone.get('weights')}), class means of the train split. Distance: EMD over "
        f"{emd.get('ground_metric')} class-to-class costs; similarity = exp(-{emd.get('gamma')} × EMD).",
        "",
        markdown_table(ranking),
        "",
    ]
    if ranking.notes:
        parts += ["## Notes", "", *(f"- {n}" for n in ranking.notes), ""]
    parts += ["## Dataset distances (EMD)", "", "![pairwise EMD](distances.png)", "",
              "See `distances.csv` for the numbers.", "", "## Largest flows of each transport plan", "",
              "Mass a source class sends to a target class (weights sum to 1), and the distance it travels.", ""]
    for s in ranking.sources:
        parts += [f"### {s.rank}. {s.name} (EMD {s.emd:.3f})", "", "| source class | target class | mass | cost |",
                  "|---|---|---|---|"]
        parts += [f"| {f.source_class} | {f.target_class} | {f.mass:.3f} | {f.cost:.3f} |"
                  for f in s.flows(ranking.target.class_names, top_flows)]
        parts.append("")
    return "\n".join(parts)


def plot_distance_heatmap(ranking: Ranking, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, table = ranking.distance_names, ranking.distances
    size = max(4.0, 0.7 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    im = ax.imshow(table, cmap="viridis_r")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{table[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if table[i, j] > np.median(table) else "black")
    fig.colorbar(im, ax=ax, label="EMD")
    ax.set_title(f"Pairwise EMD (target: {ranking.target.name})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value)}")
