"""Turn a Ranking into what a person reads: a console table, JSON/CSV files, a heatmap and report.md."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Mapping

import numpy as np

from .config import CONF_DIR
from .html import markdown_to_html
from .plotting import cached_figure, figure, save_png
from .ranking import Ranking

TABLE_HEADER = ("rank", "source", "distance", "similarity", "classes", "images", "skipped")
# A combined ranking (distance=prior_mix) shows its parts: the value it sorts by is not a distance.
PARTS_HEADER = ("rank", "source", "prior gain, points", "distance", "classes", "images", "skipped")


def _rows(ranking: Ranking) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    if any(s.parts for s in ranking.sources) and not any("prior_gain" in s.parts for s in ranking.sources):
        # A model-based score (distance=logme): the value sorted by is -score, so the score itself is shown.
        keys = list(ranking.sources[0].parts)
        return ("rank", "source", *keys, "classes", "images", "skipped"), [
            (str(s.rank), s.name, *(f"{s.parts[k]:.4f}" for k in keys), str(s.n_classes), str(s.n_images),
             str(s.n_skipped)) for s in ranking.sources]
    if any(s.parts for s in ranking.sources):
        return PARTS_HEADER, [
            (str(s.rank), s.name,
             "—" if s.parts.get("prior_gain") is None else f"{100 * s.parts['prior_gain']:+.2f}",
             f"{s.parts['distance']:.3f}", str(s.n_classes), str(s.n_images), str(s.n_skipped))
            for s in ranking.sources]
    return TABLE_HEADER, [(str(s.rank), s.name, f"{s.distance:.3f}", f"{s.similarity:.4f}", str(s.n_classes),
                           str(s.n_images), str(s.n_skipped)) for s in ranking.sources]


def format_table(ranking: Ranking) -> str:
    header, body = _rows(ranking)
    rows = [header] + body
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) if i != 1 else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    t = ranking.target
    head = (f"Target: {t.name} ({len(t.class_names)} classes, {t.n_images} images, {t.n_skipped} skipped)"
            f" — sources ranked by {ranking.distance_label}, best first")
    lines += [f"evidence: {sentence}" for sentence in ranking.evidence.get("sentences", [])]
    quality = [f"{name} {q['knn_accuracy']:.2f}" for name, q in ranking.descriptor_quality.items()]
    if quality:
        lines.append(f"descriptor quality (k-NN accuracy on each test split): {', '.join(quality)}")
    return "\n".join([head, *lines, *(f"note: {n}" for n in ranking.notes)])


def markdown_table(ranking: Ranking) -> str:
    header, body = _rows(ranking)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def default_options() -> dict:
    """The report options of conf/report/default.yaml, what the scripts use: one place for the defaults."""
    from omegaconf import OmegaConf

    return dict(OmegaConf.load(CONF_DIR / "report" / "default.yaml"))


def write_reports(ranking: Ranking, out_dir: str | Path, options: Mapping | None = None) -> dict[str, Path]:
    """Write ranking.json, ranking.csv, distances.csv, distances.png and report.md into `out_dir`; with
    `explain`, also the transport-plan, nearest-image and domain-map figures and a self-contained report.html."""
    opts = {**default_options(), **dict(options or {})}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in
             ("ranking.json", "ranking.csv", "distances.csv", "distances.png", "report.md")}
    paths["ranking.json"].write_text(json.dumps(ranking.to_dict(), indent=2, default=_json_default))
    with paths["ranking.csv"].open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["rank", "source", "distance", "similarity", "n_classes", "n_images", "n_skipped"])
        for s in ranking.sources:
            writer.writerow([s.rank, s.name, f"{s.distance:.6f}", f"{s.similarity:.6f}", s.n_classes, s.n_images,
                             s.n_skipped])
    with paths["distances.csv"].open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["dataset", *ranking.distance_names])
        for name, row in zip(ranking.distance_names, ranking.distances):
            writer.writerow([name, *(f"{v:.6f}" for v in row)])
    cached_figure(_figure_cache(ranking), paths["distances.png"],
                  ("distances", ranking.target.name, ranking.distance_names, ranking.distances),
                  lambda path: plot_distance_heatmap(ranking, path), version=FIGURE_VERSIONS["distances"])
    figures = explain_figures(ranking, out, opts) if opts["explain"] else {}
    paths.update(figures)
    markdown = markdown_report(ranking, opts["top_flows"], figures)
    paths["report.md"].write_text(markdown)
    if opts["explain"]:
        paths["report.html"] = out / "report.html"
        paths["report.html"].write_text(markdown_to_html(markdown, out, f"Sources for {ranking.target.name}"))
    return paths


# Bump a figure's version when you change how it is drawn: cached copies drawn by the old code are then not reused.
FIGURE_VERSIONS = {"distances": 1, "plan": 1, "neighbours": 1, "domain_map": 1}


def explain_figures(ranking: Ranking, out: Path, opts: Mapping) -> dict[str, Path]:
    """The figures that show why the top sources are close: plans, nearest images, a 2-D domain map."""
    import importlib.util

    from . import explain

    top = ranking.sources[: int(opts["top_k"])]
    cache = _figure_cache(ranking)
    figures = {}
    for s in (s for s in top if s.plan is not None):
        figures[f"plan_{s.name}.png"] = out / f"plan_{_safe(s.name)}.png"
        cached_figure(cache, figures[f"plan_{s.name}.png"], ("plan", s, ranking.target),
                      lambda path, s=s: explain.plot_transport_plan(s, ranking.target, path),
                      version=FIGURE_VERSIONS["plan"])
    if ranking.feature_sets:
        target_fs = ranking.feature_sets[ranking.target.name]
        sources_fs = [ranking.feature_sets[s.name] for s in top]
        per_class = max(1, min(int(opts["samples_per_class"]), 12 // len(target_fs.class_names)))
        k, seed = int(opts["neighbours"]), int(opts["seed"])
        figures["neighbours.png"] = out / "neighbours.png"
        cached_figure(cache, figures["neighbours.png"], ("neighbours", target_fs, sources_fs, per_class, k, seed),
                      lambda path: explain.plot_neighbours(target_fs, sources_fs, per_class, k, seed, path,
                                                           cache_dir=target_fs.path.parent),
                      version=FIGURE_VERSIONS["neighbours"])
        names = [ranking.target.name, *(s.name for s in top)]
        map_sets, map_domains = [ranking.feature_sets[n] for n in names], [ranking.domains[n] for n in names]
        per_dataset = int(opts["map_points_per_dataset"])
        figures["domain_map.png"] = out / "domain_map.png"
        cached_figure(cache, figures["domain_map.png"],
                      ("domain map", map_sets, map_domains, per_dataset, seed, importlib.util.find_spec("umap") is not None),
                      lambda path: explain.plot_domain_map(map_sets, map_domains, per_dataset, seed, path,
                                                           cache_dir=target_fs.path.parent),
                      version=FIGURE_VERSIONS["domain_map"])
    return figures


def _figure_cache(ranking: Ranking) -> Path | None:
    """Drawn figures are cached beside the features they show (none when the ranking carries no features)."""
    target_fs = ranking.feature_sets.get(ranking.target.name)
    return None if target_fs is None else target_fs.path.parent / "figures"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def markdown_report(ranking: Ranking, top_flows: int = 5, figures: Mapping[str, Path] | None = None) -> str:
    figures = figures or {}
    cfg = ranking.config
    backbone = cfg.get("backbone", {})
    parts = [
        f"# Pretraining sources for `{ranking.target.name}`",
        "",
        f"Features: MobileNetV2 (alpha {backbone.get('alpha')}, {backbone.get('image_size')} px, "
        f"weights {backbone.get('weights')}), train split. Distance: {ranking.distance_label}; "
        f"similarity = exp(-{cfg.get('distance', {}).get('gamma')} × distance).",
        "",
        markdown_table(ranking),
        "",
    ]
    if ranking.evidence.get("sentences"):
        parts += ["## What the benchmark says about this ranking", "",
                  *(f"- {sentence}" for sentence in ranking.evidence["sentences"]), ""]
    if ranking.notes:
        parts += ["## Notes", "", *(f"- {n}" for n in ranking.notes), ""]
    if ranking.descriptor_quality:
        parts += ["## Descriptor quality", "",
                  "How well the backbone features describe each dataset: k-NN classification accuracy and "
                  "precision@k on its test split, with its train split as the index.", "",
                  "| dataset | k | k-NN accuracy | precision@k | test images |", "|---|---|---|---|---|"]
        parts += [f"| {name} | {q['k']} | {q['knn_accuracy']:.3f} | {q['precision_at_k']:.3f} | {q['n_test']} |"
                  for name, q in ranking.descriptor_quality.items()]
        parts.append("")
    parts += ["## Dataset distances", "", "![pairwise distances](distances.png)", "",
              "See `distances.csv` for the numbers.", ""]
    if "domain_map.png" in figures:
        parts += ["## Map of the domains", "",
                  "Per-image features of the target and the closest sources in 2-D; X marks a class mean.", "",
                  "![domain map](domain_map.png)", ""]
    if "neighbours.png" in figures:
        parts += ["## Nearest source images", "",
                  "Sample target images (left) and their nearest images in each of the closest sources.", "",
                  "![nearest images](neighbours.png)", ""]
    parts += ["## Largest flows of each transport plan", "",
              "Mass a source class sends to a target class (weights sum to 1), and the distance it travels.", ""]
    for s in ranking.sources:
        parts += [f"### {s.rank}. {s.name} (distance {s.distance:.3f})", ""]
        if f"plan_{s.name}.png" in figures:
            parts += [f"![transport plan {s.name}]({figures[f'plan_{s.name}.png'].name})", ""]
        parts += ["| source class | target class | mass | cost |", "|---|---|---|---|"]
        parts += [f"| {f.source_class} | {f.target_class} | {f.mass:.3f} | {f.cost:.3f} |"
                  for f in s.flows(ranking.target.class_names, top_flows)]
        parts.append("")
    return "\n".join(parts)


def plot_distance_heatmap(ranking: Ranking, path: Path) -> None:
    names, table = ranking.distance_names, ranking.distances
    size = max(4.0, 0.7 * len(names) + 2)
    fig = figure((size, size * 0.85))
    ax = fig.add_subplot()
    ax.imshow(table, cmap="viridis_r")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{table[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if table[i, j] > np.median(table) else "black")
    ax.set_title(f"Pairwise {ranking.distance_name} (target: {ranking.target.name})")
    save_png(fig, path, dpi=100)


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value)}")
