"""Cost of the transfer benchmark; writes its section of docs/benchmarks.md.

    python scripts/bench_benchmark.py docs/benchmark/benchmark.json

Reads the catalog run's own timings (wall time, stage-1 networks, each target) from its benchmark.json, then
times what a user does next: adding one new target folder to that finished run (every stage-1 network and
every source's features are cached; only the new target is measured). The new folder is made here from
horizontally flipped images of three catalog classes, so it is a dataset the run has never seen.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, machine_facts, timed_command, write_section  # noqa: E402

SHARED = ROOT.parent / "shared" / "datasets"


def new_target(folder: Path, per_class: int = 60) -> Path:
    for dataset, cls in (("flowers", "daisy"), ("animals", "panda"), ("textures", None)):
        source = SHARED / dataset
        cls = cls or sorted(p.name for p in source.iterdir() if p.is_dir())[0]
        out = folder / f"{dataset}_{cls}"
        out.mkdir(parents=True, exist_ok=True)
        for path in sorted((source / cls).iterdir())[:per_class]:
            with Image.open(path) as img:
                ImageOps.mirror(img.convert("RGB")).save(out / f"{path.stem}.jpg", quality=90)
    return folder


def main() -> None:
    catalog_json = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "benchmark" / "benchmark.json")
    data = json.loads(catalog_json.read_text())
    timings = data["timings"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = new_target(Path(tmp) / "mirrored_new_target")
        seconds, stdout = timed_command([sys.executable, "scripts/benchmark.py", f"benchmark.targets=[{folder}]",
                                         f"hydra.run.dir={Path(tmp) / 'run'}", "features.progress=false"])
    rows = "\n".join(f"| {t} | {s:.0f} |" for t, s in timings["targets"].items())
    body = f"""## Transfer benchmark (`python scripts/bench_benchmark.py`)

Machine: {machine_facts()}.

**Whole catalog, cold** (10 targets x 9 sources, {data['protocol']['episodes']} episodes per k, k in
{sorted(set(k for t in data['protocols'] for k in [t.split('/k')[1]]))}, stage-1 protocols
{sorted(set(t.split('/')[0] for t in data['protocols']))}, one stage-1 seed; the committed run in
docs/benchmark/, timed by the run itself): **{data['seconds'] / 60:.1f} min** (goal <= 30 min), of which
stage-1 networks {timings['stage1_seconds'] / 60:.1f} min. Per target (includes, for the first one, extracting
every dataset at 224 px for the 224-px EMD scores):

| target | seconds |
|---|---|
{rows}

**One new target added to the finished run** (a {3 * 60}-image folder never seen before; all 9 x 2 stage-1
networks cached): **{seconds:.0f} s** (goal <= 180 s), the whole `scripts/benchmark.py` command.
"""
    write_section("benchmark", body)
    print(body)


if __name__ == "__main__":
    main()
