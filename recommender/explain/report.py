"""Turn a Ranking into what a person reads: a console table, JSON/CSV files, a heatmap and report.md."""
from __future__ import annotations

import csv
import io
import json
import logging
import math
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from recommender.config import CONF_DIR
from recommender.common.files import write_text_atomic
from recommender.common.html import markdown_to_html, md_text
from recommender.common.plotting import cached_figure, figure, save_png
from recommender.ranking import IMAGENET, Ranking

log = logging.getLogger(__name__)


def _gain_cell(gain: dict | None) -> str:
    if gain is None:
        return "not measured"
    if not math.isfinite(gain["half"]):
        return f"{gain['mean']:+.1f} (1 target)"
    return f"{gain['mean']:+.1f} ± {gain['half']:.1f}"


GAIN_COLUMN = "gain over ImageNet, points (95% CI)"
# What a gain ranker's parts hold besides the network scores it read (finetune.transfer.model_distance.Gain).
GAIN_PARTS = ("predicted_gain_points", "low_points", "high_points", "interval", "model", "half_width",
              "threshold_half_widths", "prior_gain_points", "imagenet_scores", "network")
PREDICTED_COLUMN = "predicted gain here, points [90%]"
MEASURED_COLUMN = "measured on other targets (95% CI)"


def table_rows(ranking: Ranking) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The report's table: the columns that decided the order first, every value in the unit its header names
    (gains in accuracy points), and the ImageNet network as the last row, at gain 0."""
    kind = ranking.kind
    score_name = next(iter(ranking.sources[0].parts), "score") if kind == "model" else "score"
    columns: list[tuple[str, Callable]] = []
    if kind == "gain":  # the value that set the order comes first, then what was measured elsewhere
        from recommender.explain.verdict import points

        columns.append((PREDICTED_COLUMN, lambda s: f"{points(s.parts['predicted_gain_points'])} "
                        f"[{points(s.parts['low_points'])}, {points(s.parts['high_points'])}]"
                        + ("" if s.parts.get("model") == "catalog" else " *")))
        columns.append((MEASURED_COLUMN, lambda s: _gain_cell(s.gain)))
        # The network score the gain model read (its first, when it read several), as measured on this target.
        read = next((k for k in ranking.sources[0].parts if k not in GAIN_PARTS), None)
        if read:
            columns.append((read, lambda s: f"{s.parts[read]:.4f}" if read in s.parts else "—"))
        header = ("rank", "source", *(c for c, _ in columns), "classes", "images", "skipped")
        body = [(str(s.rank), _flagged(s), *(f(s) for _, f in columns), str(s.n_classes), str(s.n_images),
                 str(s.n_skipped)) for s in ranking.sources]
        # The ImageNet network's own score on the target: what each source's score is read against.
        own = (ranking.sources[0].parts.get("imagenet_scores") or {}).get(read) if read else None
        return header, [*body, ("—", f"{IMAGENET} (no source)", "+0.0 (reference)", "+0.0 (reference)",
                                *([] if not read else ["—" if own is None else f"{own:.4f}"]), "", "", "")]
    if kind == "model":
        columns.append((score_name, lambda s: f"{s.score:.4f}"))
    if kind in ("mix", "prior_model"):
        columns.append(("combined score", lambda s: "not trained (outside the shortlist)"
                        if s.parts.get("shortlisted") is False else f"{s.score:.3f}"))
    columns.append((GAIN_COLUMN, lambda s: _gain_cell(s.gain)))
    # The prior mixed with a trained network's score (prior_score) shows that score, not a distance.
    network_score = kind == "prior_model" and next(
        (k for s in ranking.sources for k in s.parts if k not in ("prior_gain_points", "shortlisted", "network")), None)
    if network_score:
        columns.append((network_score, lambda s: "—" if network_score not in s.parts
                        else f"{s.parts[network_score]:.4f}"))
    elif kind != "model":
        columns.append(("distance (tie-break)" if kind == "prior" else "distance",
                        lambda s: "—" if s.distance is None else f"{s.distance:.3f}"))
    if kind == "distance":
        columns.append(("similarity", lambda s: f"{s.similarity:.4f}"))
    header = ("rank", "source", *(c for c, _ in columns), "classes", "images", "skipped")
    body = [(str(s.rank), _flagged(s), *(f(s) for _, f in columns), str(s.n_classes), str(s.n_images),
             str(s.n_skipped)) for s in ranking.sources]
    imagenet = ["—", f"{IMAGENET} (no source)"] + ["" for _ in columns] + ["", "", ""]
    imagenet[2 + [c for c, _ in columns].index(GAIN_COLUMN)] = "+0.0 (reference)"
    return header, [*body, tuple(imagenet)]


def _flagged(s) -> str:
    """A source's name, marked when it holds some of the target's own images (a note says how many)."""
    return s.name + (f" (! {s.shared_images} of the target's images)" if getattr(s, "shared_images", 0) else "")


def decided_by(ranking: Ranking) -> str:
    """What decided the order, in plain words."""
    catalog_targets = "the other catalog targets" if ranking.evidence.get("target_in_catalog") else "the catalog targets"
    if ranking.kind == "gain":
        users = [s.name for s in ranking.sources if s.parts.get("model") == "user"]
        return (f"What decided the order: {ranking.distance_label}. The measured gains beside it come from "
                f"{catalog_targets}, not this one." + (f" * {', '.join(users)}: no catalog measurement, predicted "
                                                        "from the network's scores alone." if users else ""))
    if ranking.kind == "prior":
        return (f"What decided the order: each source's measured transfer on {catalog_targets} (the catalog "
                "prior), which is the same for every target; a distance to this target only breaks ties and places "
                "sources the catalog never measured.")
    if ranking.kind == "mix":
        return f"What decided the order: {ranking.distance_label}."
    if ranking.kind == "model":
        return (f"What decided the order: {ranking.distance_label}. The gains beside it were measured on "
                f"{catalog_targets}, not on this one.")
    if ranking.kind == "prior_model":
        return (f"What decided the order: {ranking.distance_label}. The gains beside it, measured on "
                f"{catalog_targets}, are the prior's part.")
    return (f"What decided the order: the {ranking.distance_label} between the target and each source (smaller "
            f"is closer). The gains beside it were measured on {catalog_targets}; they did not decide the order.")


CONSOLE_WIDTH = 100
# Shorter console headers, and columns the console leaves to report.md and ranking.csv.
CONSOLE_HEADERS = {PREDICTED_COLUMN: "predicted here [90%]", MEASURED_COLUMN: "measured elsewhere",
                   GAIN_COLUMN: "gain, points (95% CI)"}
CONSOLE_DROPPED = ("classes", "skipped")


def _wrapped(text: str, prefix: str = "") -> list[str]:
    import textwrap

    return textwrap.wrap(prefix + text, CONSOLE_WIDTH, subsequent_indent=" " * min(len(prefix), 4),
                         break_on_hyphens=False, break_long_words=False) or [""]


def format_table(ranking: Ranking) -> str:
    """The console output, at most CONSOLE_WIDTH columns (sentences wrap at word boundaries; the table shortens
    its headers and leaves class and skip counts to report.md): the verdict first, then what decided the order,
    the table, the evidence, and the command to run next."""
    header, body = table_rows(ranking)
    keep = [i for i, h in enumerate(header) if h not in CONSOLE_DROPPED]
    rows = [tuple(CONSOLE_HEADERS.get(header[i], header[i]) for i in keep)] + [tuple(r[i] for i in keep) for r in body]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = ["  ".join(cell.rjust(w) if i != 1 else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, widths)))
             .rstrip() for r in rows]
    table.insert(1, "  ".join("-" * w for w in widths))
    t = ranking.target
    lines = [*_wrapped(ranking.headline), *_wrapped(decided_by(ranking)), "",
             f"Target: {t.name} ({len(t.class_names)} classes, {t.n_images} images, {t.n_skipped} skipped)", *table]
    for sentence in ranking.evidence.get("sentences", []):
        lines += _wrapped(sentence, "evidence: ")
    quality = [f"{name} {q['knn_accuracy']:.2f}" for name, q in ranking.descriptor_quality.items()]
    if quality:
        lines += _wrapped(", ".join(quality), "descriptor quality (k-NN accuracy on each test split): ")
    for note in ranking.notes:
        lines += _wrapped(note, "note: ")
    lines += [f"next: {c}" for c in ranking.evidence.get("next", [])]
    return "\n".join(lines)


def markdown_table(ranking: Ranking) -> str:
    """The report's table (`table_rows`) as Markdown, every cell escaped."""
    header, body = table_rows(ranking)
    body = [tuple(md_cell(c) for c in row) for row in body]
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
    write_text_atomic(paths["ranking.json"], json.dumps(_finite(ranking.to_dict()), indent=2, default=_json_default,
                                                        allow_nan=False))
    records = ranking.to_records()
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(records[0]))
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in records)
    write_text_atomic(paths["ranking.csv"], text.getvalue())
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["dataset", *ranking.distance_names])
    for name, row in zip(ranking.distance_names, ranking.distances):
        writer.writerow([name, *(f"{v:.6f}" for v in row)])
    write_text_atomic(paths["distances.csv"], text.getvalue())
    paths["gains.png"] = out / "gains.png"
    cached_figure(_figure_cache(ranking), paths["gains.png"],
                  ("gains", ranking.kind, ranking.target.name, ranking.evidence.get("chosen"),
                   [(s.name, s.gain, *(s.parts.get(k) for k in ("predicted_gain_points", "low_points", "high_points")))
                    for s in ranking.sources]),
                  lambda path: plot_gains(ranking, path), version=FIGURE_VERSIONS["gains"])
    cached_figure(_figure_cache(ranking), paths["distances.png"],
                  ("distances", ranking.target.name, ranking.table_label, ranking.distance_names, ranking.distances),
                  lambda path: plot_distance_heatmap(ranking, path), version=FIGURE_VERSIONS["distances"])
    figures = {"gains.png": paths["gains.png"], **(explain_figures(ranking, out, opts) if opts["explain"] else {})}
    built = built_sources(ranking, out)
    figures.update({name: path for name, (_, path) in built.items()})
    paths.update(figures)
    markdown = markdown_report(ranking, opts["top_flows"], figures, {n: spec for n, (spec, _) in built.items()})
    write_text_atomic(paths["report.md"], markdown)
    if opts["explain"]:
        paths["report.html"] = out / "report.html"
        write_text_atomic(paths["report.html"], markdown_to_html(markdown, out, f"Sources for {ranking.target.name}"))
    return paths


# Bump a figure's version when you change how it is drawn: cached copies drawn by the old code are then not reused.
FIGURE_VERSIONS = {"distances": 3, "plan": 4, "neighbours": 3, "domain_map": 3, "gains": 3}


def _announced(what: str, draw: Callable[[Path], object]) -> Callable[[Path], object]:
    """`draw`, saying first what it draws: a figure that is not cached can take a minute (t-SNE, UMAP)."""
    def announced(path: Path):
        log.info("drawing %s", what)
        return draw(path)
    return announced


def explain_figures(ranking: Ranking, out: Path, opts: Mapping) -> dict[str, Path]:
    """The figures that show why the top sources are close: plans, nearest images, a 2-D domain map."""
    import importlib.util

    from recommender.explain import figures as explain

    top = ranking.sources[: int(opts["top_k"])]
    cache = _figure_cache(ranking)
    figures = {}
    for s in (s for s in top if s.plan is not None):
        figures[f"plan_{s.name}.png"] = out / f"plan_{_safe(s.name)}.png"
        cached_figure(cache, figures[f"plan_{s.name}.png"], ("plan", s, ranking.target),
                      _announced(f"the transport plan of {s.name}",
                                 lambda path, s=s: explain.plot_transport_plan(s, ranking.target, path)),
                      version=FIGURE_VERSIONS["plan"])
    if ranking.feature_sets:
        target_fs = ranking.feature_sets[ranking.target.name]
        sources_fs = [ranking.feature_sets[s.name] for s in top]
        per_class = max(1, min(int(opts["samples_per_class"]), 12 // len(target_fs.class_names)))
        k, seed = int(opts["neighbours"]), int(opts["seed"])
        figures["neighbours.png"] = out / "neighbours.png"
        cached_figure(cache, figures["neighbours.png"], ("neighbours", target_fs, sources_fs, per_class, k, seed),
                      _announced("the nearest source images",
                                 lambda path: explain.plot_neighbours(target_fs, sources_fs, per_class, k, seed, path,
                                                                      cache_dir=target_fs.path.parent)),
                      version=FIGURE_VERSIONS["neighbours"])
        if not opts.get("map", False):  # about 50 s, and it never decides the order: drawn when asked
            return figures
        names = [ranking.target.name, *(s.name for s in top)]
        map_sets, map_domains = [ranking.feature_sets[n] for n in names], [ranking.domains[n] for n in names]
        per_dataset = int(opts["map_points_per_dataset"])
        figures["domain_map.png"] = out / "domain_map.png"
        cached_figure(cache, figures["domain_map.png"],
                      ("domain map", map_sets, map_domains, per_dataset, seed, importlib.util.find_spec("umap") is not None),
                      _announced(f"the domain map ({len(names)} datasets, {per_dataset} images each: PCA, t-SNE "
                                 "and UMAP, up to a minute)",
                                 lambda path: explain.plot_domain_map(map_sets, map_domains, per_dataset, seed, path,
                                                                      cache_dir=target_fs.path.parent)),
                      version=FIGURE_VERSIONS["domain_map"])
    return figures


def _figure_cache(ranking: Ranking) -> Path | None:
    """Drawn figures are cached beside the features they show (none when the ranking carries no features)."""
    target_fs = ranking.feature_sets.get(ranking.target.name)
    return None if target_fs is None else target_fs.path.parent / "figures"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


md_cell = md_text  # the one escaping function (recommender.common.html)


METHOD = {
    "prior": ("Each catalog source is ranked by its measured transfer: the mean gain in few-shot accuracy of its "
              "stage-1 network over the ImageNet network on the catalog targets other than this one (the committed "
              "benchmark's headline protocol). That prior is the same for every target; {base} between the target "
              "and each source breaks ties and places sources the catalog never measured. The weight of the "
              "distance was chosen by nested leave-one-target-out over the catalog."),
    "mix": ("Each source gets the score prior / sd_prior + c × (−distance) / sd_distance: its measured transfer on "
            "the other catalog targets and {base} to this target, with c chosen by nested leave-one-target-out "
            "over the catalog. Higher scores rank first."),
    "prior_model": ("The score of each source: {base}. The prior is the source's measured transfer on the other "
                    "catalog targets; the network's score is computed on this target's own images. A source the "
                    "catalog never measured gets the mean prior of the others, so its score alone places it. "
                    "Higher scores rank first."),
    "distance": ("Every image's ImageNet MobileNetV2 features are pooled into class means; the distance between "
                 "the target and each source is {base}, solved exactly; sources are ranked by distance, smallest "
                 "first; similarity = exp(−gamma × distance)."),
    "gain": ("Each source's stage-1 network (its top 4 blocks trained on the source; the shipped file when the "
             "networks folder has it) and the ImageNet network embed the target's train+val images, and the "
             "transferability scores the evidence's model names read those features; its features are each source "
             "network's score minus the ImageNet network's and, where the model reads it, a catalog source's mean "
             "measured gain on the other catalog targets; {base}. Its coefficients, the interval's half-width (split-conformal over held-out "
             "targets) and the verdict's rule were fitted by nested leave-one-target-out on the committed "
             "benchmark (docs/gain/gain.md). Higher predicted gains rank first."),
    "model": ("Each source's stage-1 network (its top blocks trained on the source) embeds the target's train+val "
              "images; {base} scores how well those features predict the target's labels. Higher scores rank "
              "first."),
}


def built_sources(ranking: Ranking, out: Path) -> dict[str, tuple[dict, Path]]:
    """Figure name -> (spec, grid) of each candidate that is a source built from a pool (scripts/build_source.py)."""
    from recommender.data.subset import read_spec
    from recommender.explain.built_source import images_by_class, plot_classes

    found = {}
    for s in ranking.sources:
        if s.ref is None or not str(s.ref).endswith(".json") or s.name not in ranking.feature_sets:
            continue
        spec = read_spec(s.ref)
        fs = ranking.feature_sets[s.name]
        by_class = images_by_class(spec, [[r for r, lab in zip(fs.refs, fs.labels) if lab == i]
                                          for i in range(len(fs.class_names))])
        path = out / f"classes_{_safe(s.name)}.png"
        plot_classes(spec, by_class, path)
        found[path.name] = (spec, path)
    return found


def provenance_line(ranking: Ranking) -> str:
    """Where the report came from: the date, the tool's version, the configuration that matters, and links to
    the files beside it."""
    import datetime
    from importlib.metadata import PackageNotFoundError, version

    try:
        tool = version("pretrain-recommender")
    except PackageNotFoundError:
        tool = "unknown"
    cfg = ranking.config
    backbone = cfg.get("backbone", {})
    sources = cfg.get("sources", "all")
    summary = (f"target={md_cell(cfg.get('target'))}, sources={md_cell(sources)}, distance={ranking.distance_name}, "
               f"MobileNetV2 alpha {backbone.get('alpha')} at {backbone.get('image_size')} px, seed {cfg.get('seed')}")
    return (f"_Made {datetime.date.today().isoformat()} by pretrain-recommender {tool}; {summary}. Files: "
            "[ranking.json](ranking.json) · [ranking.csv](ranking.csv) · [distances.csv](distances.csv) · "
            "[recommend.log](recommend.log)._")


def markdown_report(ranking: Ranking, top_flows: int = 5, figures: Mapping[str, Path] | None = None,
                    built: Mapping[str, dict] | None = None) -> str:
    """report.md: the verdict, the table and chart, how far to trust it, notes, what to run next, the
    method, then the figures that did not decide the order."""
    figures = figures or {}
    cfg = ranking.config
    backbone = cfg.get("backbone", {})
    t = ranking.target
    parts = [
        f"# Pretraining sources for {md_cell(t.name)}",
        "",
        f"**{md_cell(ranking.headline)}**",
        "",
        md_cell(decided_by(ranking)),
        "",
        f"Target: {len(t.class_names)} classes, {t.n_images} images ({t.n_skipped} unreadable, skipped).",
        "",
        markdown_table(ranking),
        "",
        provenance_line(ranking),
        "",
    ]
    if "gains.png" in figures:
        parts += ["![each source's gain over ImageNet](gains.png)", ""]
    if ranking.evidence.get("sentences"):
        parts += ["## How far to trust this", "",
                  *(f"- {md_cell(sentence)}" for sentence in ranking.evidence["sentences"]), ""]
    if ranking.notes:
        parts += ["## Notes", "", *(f"- {md_cell(n)}" for n in ranking.notes), ""]
    if ranking.evidence.get("next"):
        parts += ["## What to run next", "", "```", *ranking.evidence["next"], "```", ""]
    if built:
        from recommender.explain.built_source import report_section

        parts += ["## Sources built from a pool", ""]
        for figure, spec in built.items():
            parts += report_section(spec, figure)
    base = ranking.table_label if ranking.kind in ("prior", "mix") else ranking.distance_label
    parts += ["## Method", "",
              f"Features: ImageNet MobileNetV2 (alpha {backbone.get('alpha')}, {backbone.get('image_size')} px, "
              f"weights {backbone.get('weights')}), each dataset's train split.",
              METHOD.get(ranking.kind, METHOD["distance"]).format(base=base), ""]
    if ranking.kind in ("prior", "model", "prior_model", "gain"):
        parts += ["## How the target and the sources look", "",
                  f"_These did not decide the order._ They show {ranking.table_label} between the datasets"
                  + (", which orders sources the catalog never measured." if ranking.kind == "prior" else
                     "; sources the catalog never measured were placed by their network's score, not by it."),
                  ""]
    else:
        parts += ["## Why the first sources are close", "",
                  f"The {ranking.table_label} that decided the order, seen from several sides.", ""]
    if ranking.descriptor_quality:
        parts += ["### Descriptor quality", "",
                  "How well the backbone features describe each dataset: k-NN classification accuracy and "
                  "precision@k on its test split, with its train split as the index.", "",
                  "| dataset | k | k-NN accuracy | precision@k | test images |", "|---|---|---|---|---|"]
        parts += [f"| {md_cell(name)} | {q['k']} | {q['knn_accuracy']:.3f} | {q['precision_at_k']:.3f} | "
                  f"{q['n_test']} |" for name, q in ranking.descriptor_quality.items()]
        parts.append("")
    parts += ["### Dataset distances", "", "![pairwise distances](distances.png)", "",
              "See [distances.csv](distances.csv) for the numbers.", ""]
    if "domain_map.png" in figures:
        parts += ["### Map of the domains", "",
                  "Per-image features of the target and the first-ranked sources in 2-D; X marks a class mean.", "",
                  "![domain map](domain_map.png)", ""]
    if "neighbours.png" in figures:
        parts += ["### Nearest source images", "",
                  "Sample target images (left) and their nearest images in each of the first-ranked sources.", "",
                  "![nearest images](neighbours.png)", ""]
    planned = [s for s in ranking.sources if s.plan is not None]
    if planned:
        parts += ["### Largest flows of each transport plan", "",
                  "Mass a source class sends to a target class (weights sum to 1), and the distance it travels.", ""]
    for s in planned:
        parts += [f"#### {s.rank}. {md_cell(s.name)} (distance {s.distance:.3f})", ""]
        if f"plan_{s.name}.png" in figures:
            parts += [f"![transport plan {md_cell(s.name)}]({figures[f'plan_{s.name}.png'].name})", ""]
        parts += ["| source class | target class | mass | cost |", "|---|---|---|---|"]
        parts += [f"| {md_cell(f.source_class)} | {md_cell(f.target_class)} | {f.mass:.3f} | {f.cost:.3f} |"
                  for f in s.flows(ranking.target.class_names, top_flows)]
        parts.append("")
    return "\n".join(parts)


MAX_GAIN_ROWS = 30


def plot_gains(ranking: Ranking, path: Path) -> None:
    """Each source's gain over ImageNet with its interval, in rank order, and ImageNet at 0: the predicted gain
    on this target (90% interval; green: the verdict's choice) under the gain model, else the gain measured on
    the other catalog targets (95% t-interval; green: above 0)."""
    predicted = ranking.kind == "gain"

    def bar(s):  # (mean, low, high, green) or None when nothing was measured
        if predicted:
            p = s.parts
            return p["predicted_gain_points"], p["low_points"], p["high_points"], ranking.best is s
        if s.gain is None:
            return None
        half = s.gain["half"] if math.isfinite(s.gain["half"]) else 0.0
        return s.gain["mean"], s.gain["mean"] - half, s.gain["mean"] + half, s.gain["mean"] - half > 0

    shown = ranking.sources[:MAX_GAIN_ROWS]
    names = [s.name for s in shown] + [f"{IMAGENET} (reference)"]
    fig = figure((7.5, 1.4 + 0.36 * len(names)))
    ax = fig.add_subplot()
    ax.axvline(0, color="0.4", lw=1, ls="--")
    for y, s in enumerate(shown):
        found = bar(s)
        if found is None:
            ax.text(0, y, "  not measured", va="center", ha="left", fontsize=10, color="0.4")
            continue
        mean, low, high, green = found
        ax.errorbar(mean, y, xerr=[[mean - low], [high - mean]], fmt="o", color="tab:green" if green else "tab:blue",
                    capsize=3)
    ax.plot(0, len(shown), "D", color="black")
    ax.set_yticks(range(len(names)), names, fontsize=10)
    ax.tick_params(axis="x", labelsize=10)
    ax.invert_yaxis()
    ax.set_xlabel(f"predicted gain in few-shot accuracy over ImageNet weights on {ranking.target.name}, points\n"
                  "(90% conformal interval; green: the verdict's choice)" if predicted else
                  "gain in few-shot accuracy over ImageNet weights, points\n(mean and 95% t-interval over the "
                  "other catalog targets it was measured on)", fontsize=10)
    more = len(ranking.sources) - len(shown)
    title = ("Predicted gain of each source on this target, in rank order" if predicted else
             "Measured gain of each source over starting from ImageNet, in rank order")
    ax.set_title(title + (f" (and {more} more)" if more > 0 else ""), fontsize=11)
    save_png(fig, path)


def plot_distance_heatmap(ranking: Ranking, path: Path) -> None:
    """The pairwise distances, coloured on the off-diagonal values only: the zero diagonal would take one end of
    the scale and make every other cell look alike. Cells are annotated at 9 pt (one decimal)."""
    import textwrap

    names, table = ranking.distance_names, np.asarray(ranking.distances, float)
    n = len(names)
    off = table[~np.eye(n, dtype=bool)] if n > 1 else table.ravel()
    low, high = (float(off.min()), float(off.max())) if off.size else (0.0, 1.0)
    size = max(5.0, 0.75 * n + 2.5)
    fig = figure((size, size * 0.85))
    ax = fig.add_subplot()
    shown = np.where(np.eye(n, dtype=bool), np.nan, table)
    image = ax.imshow(shown, cmap="viridis_r", vmin=low, vmax=high if high > low else low + 1)
    ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=10)
    ax.set_yticks(range(n), names, fontsize=10)
    middle = (low + high) / 2
    for i in range(n):
        for j in range(n):
            if i != j:
                ax.text(j, i, f"{table[i, j]:.1f}", ha="center", va="center", fontsize=9,
                        color="white" if table[i, j] > middle else "black")
    fig.colorbar(image, ax=ax, shrink=0.8).ax.tick_params(labelsize=9)
    title = f"Pairwise {ranking.table_label or ranking.distance_label} (target: {ranking.target.name})"
    ax.set_title("\n".join(textwrap.wrap(title, width=int(9 * size))), fontsize=11)
    save_png(fig, path)


def _finite(value):
    """The same structure with every non-finite float as None: the JSON written is standard (no NaN tokens)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)) and not math.isfinite(float(value)):
        return None
    if isinstance(value, np.ndarray):
        return _finite(value.tolist())
    return value


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value)}")
