"""What the gain model's scores add to a new target; writes its section of docs/benchmarks.md.

    python scripts/perf/bench_gain_scores.py        (after scripts/benchmark.py, whose cached features it reads)

`distance=gain` (the default) scores the ImageNet network and every source network on the target's train+val
images with the few-shot probe (the scores the shipped gain model reads); the default before it, prior_score,
scored every source network with LogME. The forward passes that give those features are the same for both and
are not timed here. For each catalog target taken as a new target (its nine sources' networks, as `recommend`
ranks them), and for two user-like folders of many classes cut from the tinyimagenet pool (30 x 40 and 100 x 50
images, ranked against the ten catalog sources), this times, in one process with the BLAS threads `recommend` gets: every score the gain model reads
on ImageNet and the nine networks, and LogME on the nine networks; the difference is what the new scores add.
Each target is timed twice, alternating the two, and the smaller time kept (the machine's noise is ±20 %).
"""
from __future__ import annotations

import json
import shutil
import time
from datetime import date
from pathlib import Path

from benchlib import machine_facts, write_section  # noqa: E402

import recommender  # noqa: E402,F401
from finetune.benchmark.measure import protocol_config  # noqa: E402
from finetune.benchmark.run import plan  # noqa: E402
from finetune.transfer.adapted import adapted_split, imagenet_split  # noqa: E402
from finetune.transfer.stages import train_source  # noqa: E402
from finetune.transferability import REGISTRY  # noqa: E402
from finetune.transferability.probe import WAYS  # noqa: E402
from recommender import load_config, open_dataset  # noqa: E402
from recommender.evidence import load_evidence  # noqa: E402
from recommender.rankers.gain import model_scores  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
GOAL_SECONDS = 10.0
MANY_CLASSES = ((30, 40), (100, 50))  # (classes, images per class) of the user-like folders


def seconds(splits, names) -> float:
    start = time.perf_counter()
    for split in splits:
        for name in names:
            REGISTRY[name].function(split.features, split.labels)
    return time.perf_counter() - start


def many_class_folder(root: Path, classes: int, per_class: int) -> Path:
    """A user-like target of many classes: the first `classes` classes of the tinyimagenet pool, `per_class`
    images each (copies)."""
    pool = ROOT.parent / "shared" / "datasets" / "tinyimagenet"
    folder = root / f"tiny_{classes}x{per_class}"
    for name in sorted(p.name for p in pool.iterdir() if p.is_dir())[:classes]:
        (folder / name).mkdir(parents=True, exist_ok=True)
        for image in sorted((pool / name).iterdir())[:per_class]:
            if not (folder / name / image.name).exists():
                shutil.copy2(image, folder / name / image.name)  # a folder's listing does not follow links
    return folder


def main() -> None:
    cfg = load_config(config_name="benchmark")
    evidence = load_evidence(None)
    names = model_scores(evidence["gain"])
    top_blocks = int(str(evidence["gain"]["protocol"]).split("/")[0].removeprefix("top"))
    cfg_b = protocol_config(cfg, top_blocks)
    rows = {}
    catalog = plan(cfg)
    every_source = [t for t, _ in catalog]
    work = Path(cfg.features.cache_dir).expanduser() / "bench_gain_scores"  # reused: its features stay cached
    folders = [(str(many_class_folder(work, c, n)), every_source) for c, n in MANY_CLASSES]
    for target_ref, source_refs in [*catalog, *folders]:
        target = open_dataset(target_ref, cfg)
        imagenet = imagenet_split(target, cfg_b, ("train", "val"))
        networks = [adapted_split(train_source(r, cfg_b, int(cfg.benchmark.stage1_seed)), target, cfg_b,
                                  ("train", "val")) for r in source_refs]
        gain, before = [], []
        for _ in range(2):
            gain.append(seconds([imagenet, *networks], names))
            before.append(seconds(networks, ["logme"]))
        rows[target.name] = {"pool_images": len(imagenet.labels), "classes": len(set(imagenet.labels.tolist())),
                             "networks": len(networks) + 1, "gain_scores_seconds": min(gain),
                             "logme_seconds": min(before), "added_seconds": min(gain) - min(before)}
        print(target.name, rows[target.name], flush=True)
    Path(ROOT / "docs" / "gain").mkdir(parents=True, exist_ok=True)
    (ROOT / "docs" / "gain" / "scores_cost.json").write_text(json.dumps(
        {"date": str(date.today()), "machine": machine_facts(), "scores": names, "rows": rows}, indent=1))
    over = [t for t, r in rows.items() if r["added_seconds"] >= GOAL_SECONDS]
    lines = [f"### What the gain model's scores add to a new target ({date.today()})", "",
             f"`python scripts/perf/bench_gain_scores.py` on {machine_facts()}. Each catalog target taken as a new "
             f"target, and two folders of many classes cut from the tinyimagenet pool (tiny_CxN: C classes of N "
             "images, against the ten catalog sources): the scores the shipped gain model reads "
             f"({', '.join(names)}) on the ImageNet network and the source networks, against LogME on the sources (what prior_score, the default before, computed). "
             "Cached features (the forward passes, the same for both, are not timed); the smaller of two "
             "alternating runs; warm Python process.", "",
             "| target | train+val images | classes | probe's classes per episode | gain's scores (s) | LogME (s) | added (s) |",
             "|---|---|---|---|---|---|---|"]
    for t, r in sorted(rows.items(), key=lambda kv: kv[1]["pool_images"]):
        lines.append(f"| {t} | {r['pool_images']} | {r['classes']} | {min(r['classes'], WAYS)} | "
                     f"{r['gain_scores_seconds']:.1f} | "
                     f"{r['logme_seconds']:.1f} | {r['added_seconds']:+.1f} |")
    lines += ["", f"Under {GOAL_SECONDS:.0f} s added on {len(rows) - len(over)} of {len(rows)} targets"
              + (f"; over it on {', '.join(over)}." if over else ".")]
    write_section("gain_scores", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
