"""The report of a built source: its classes closest first, with their distance to the target, and a grid of them."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from recommender.common.cache import write_json
from recommender.explain.figures import thumbnail
from recommender.common.html import markdown_to_html
from recommender.common.html import md_text
from recommender.common.plotting import save_mosaic

GRID_COLUMNS = 10


def plot_classes(spec: dict, images_of: dict, path: Path, per_class: int = 1, tile: int = 80) -> None:
    """One tile per kept class (closest first, row by row), captioned with its rank, name and distance."""
    tiles, captions = [[]], [[]]
    for rank, row in enumerate(spec["chosen"], 1):
        refs = images_of[(row["dataset"], row["class"])][:per_class]
        for ref in refs:
            if len(tiles[-1]) == GRID_COLUMNS:
                tiles.append([])
                captions.append([])
            tiles[-1].append(thumbnail(ref, tile))
            d = row["distance"]
            captions[-1].append((f"{rank}. {row['class']}\n" + (f"d={d:.2f}" if d is not None else "drawn"), "black"))
    blank = np.full((tile, tile, 3), 255, np.uint8)
    tiles[-1] += [blank] * (GRID_COLUMNS - len(tiles[-1]))
    captions[-1] += [("", "black")] * (GRID_COLUMNS - len(captions[-1]))
    save_mosaic(tiles, captions, f"{spec['name']}: the kept pool classes, closest to the target first", path)


def images_by_class(spec: dict, class_refs: list[list]) -> dict:
    """(pool dataset, class) -> image refs, from the built source's own listing, whose classes run member by member
    in the spec's order (`class_refs[i]`: the refs of its i-th class)."""
    keys = [(m["dataset"], c) for m in spec["members"] for c in m["classes"]]
    return dict(zip(keys, class_refs))


def report_section(spec: dict, figure: str | None, shown: int = 15) -> list[str]:
    """Markdown lines on a built source among the candidates: what it is, its closest classes, and its grid."""
    about, chosen = spec["about"], spec["chosen"]
    how = {"emd": "the closest to the target by class-mean EMD (Cui et al. 2018, section 4.2).",
           "emd_relative": "the closest to the target by class-mean EMD, relative to the reference datasets.",
           "random": f"drawn at random (seed {about['seed']})."}[about["rule"]]
    lines = [f"### {md_text(spec['name'])}", "",
             f"Built from {md_text(', '.join(about['pool']))}: {len(chosen)} of {about['pool_classes']} classes, {how}",
             ""]
    lines += ["| rank | class | images | distance | similarity |", "|---|---|---|---|---|"]
    for rank, row in enumerate(chosen[:shown], 1):
        d, s = row["distance"], row["similarity"]
        lines.append(f"| {rank} | {md_text(row['class'])} | {row['images']} | "
                     + (f"{d:.3f} | " if d is not None else "– | ") + (f"{s:.3f} |" if s is not None else "– |"))
    if len(chosen) > shown:
        lines.append(f"| … | and {len(chosen) - shown} more (the spec lists all) | | | |")
    lines.append("")
    if figure:
        lines += [f"![the classes of {spec['name']}]({figure})", ""]
    return lines


def write_source_report(spec: dict, images_of: dict, out_dir: str | Path) -> dict[str, Path]:
    """source.json (the spec every command reads), report.md/.html and classes.png in `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"spec": out / "source.json", "figure": out / "classes.png", "markdown": out / "report.md",
             "html": out / "report.html"}
    write_json(paths["spec"], spec)
    plot_classes(spec, images_of, paths["figure"])
    about = spec["about"]
    emd = about["rule"] != "random"
    lines = [f"# Built source {md_text(spec['name'])}", "",
             f"{len(spec['chosen'])} of the {about['pool_classes']} classes of the pool "
             f"({md_text(', '.join(about['pool']))}), "
             + (f"closest to the target {md_text(about['target'])}." if emd else
                f"drawn at random (seed {about['seed']})."),
             "", f"Identity (content): `{spec['identity']}`. Use it wherever a dataset is accepted:", "",
             "```", f"python scripts/recommend.py target={about['target']} sources=[{paths['spec']},...]",
             f"python scripts/train.py target={about['target']} source={paths['spec']}", "```", ""]
    if emd:
        lines += ["Rule (Cui et al., CVPR 2018, section 4.2; distances of section 4.1): each pool class is the "
                  "one-point domain of its class mean (ImageNet features, train split); its distance to the target is "
                  "the EMD to the target's class means weighted by class share, d = Σ_j w_j ‖μ − t_j‖; similarity "
                  f"exp(−{about['gamma']}·d); the {len(spec['chosen'])} smallest d are kept."
                  + (" emd_relative: d minus the class's mean d to the reference datasets "
                     f"({', '.join(about.get('reference', []))}), so a class close to every domain is not preferred."
                     if about["rule"] == "emd_relative" else ""), ""]
    lines += ["| rank | pool | class | images | distance d | similarity |", "|---|---|---|---|---|---|"]
    for rank, row in enumerate(spec["chosen"], 1):
        d, s = row["distance"], row["similarity"]
        lines.append(f"| {rank} | {md_text(Path(row['dataset']).name)} | {md_text(row['class'])} | {row['images']} | "
                     + (f"{d:.3f} | " if d is not None else "– | ") + (f"{s:.3f} |" if s is not None else "– |"))
    lines += ["", f"![the kept classes]({paths['figure'].name})", ""]
    text = "\n".join(lines)
    paths["markdown"].write_text(text)
    paths["html"].write_text(markdown_to_html(text, out, f"Built source {spec['name']}"))
    return paths
