"""Cost of the transfer benchmark; writes its section of docs/benchmarks.md.

    /usr/bin/time -f %e python scripts/benchmark.py hydra.run.dir=<cold run> features.cache_dir=<cold run>/f \
        finetune.checkpoint_dir=<cold run>/c features.progress=false   # empty caches, a quiet machine
    python scripts/perf/bench_benchmark.py <cold run>/benchmark.json <the wall seconds /usr/bin/time printed>

Reads the cold run's cost from its benchmark.json (`seconds`, `timings`: stage-1 networks and each target, the
model-free distances included) and the whole command's wall time (start-up and reports included: what the goal
is about), and keeps those figures in docs/benchmark/cold_run_timings.json. Then it
times what a user does next: adding one new target folder to that finished run (every stage-1 network and
every source's features are cached; only the new target is measured). The new folder is made here from
horizontally flipped images of three catalog classes, so it is a dataset the run has never seen.
"""
from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageOps

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


def compare_numbers(ours, committed, path: tuple = ()) -> tuple[int, int, float, int]:
    """(numbers compared, numbers that differ, their largest relative difference, accuracies that differ) between
    two benchmark.json files, leaving out timings and the configuration (paths differ between runs)."""
    if isinstance(ours, dict):
        parts = [compare_numbers(ours[k], committed[k], (*path, k)) for k in ours
                 if k not in ("seconds", "timings", "measured_seconds", "config", "protocol")]
    elif isinstance(ours, list):
        parts = [compare_numbers(a, b, path) for a, b in zip(ours, committed)]
    elif isinstance(ours, float):
        same = ours == committed or (math.isnan(ours) and math.isnan(committed))
        relative = 0.0 if same else abs(ours - committed) / max(abs(ours), abs(committed))
        return 1, int(not same), relative, int(not same and "accuracy" in path)
    else:
        return 0, 0, 0.0, 0
    return (sum(p[0] for p in parts), sum(p[1] for p in parts), max([p[2] for p in parts], default=0.0),
            sum(p[3] for p in parts))


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("error: usage: python scripts/perf/bench_benchmark.py <cold run>/benchmark.json <wall seconds of that "
                 "scripts/benchmark.py command, as /usr/bin/time -f %e printed them>")
    cold = json.loads(Path(sys.argv[1]).read_text())
    wall = float(sys.argv[2])
    kept = {"command_wall_seconds": wall, "seconds": cold["seconds"], "timings": cold["timings"],
            "protocols": list(cold["protocols"]), "episodes": cold["protocol"]["episodes"]}
    (ROOT / "docs" / "benchmark" / "cold_run_timings.json").write_text(json.dumps(kept, indent=1))
    measured = cold["timings"]["targets"]
    stage1_minutes = cold["timings"]["stage1_seconds"] / 60
    features_minutes = cold["timings"].get("features_seconds", 0.0) / 60
    cold_minutes = cold["seconds"] / 60
    targets_minutes = cold["timings"].get("targets_seconds", sum(measured.values())) / 60
    jobs = cold["timings"].get("jobs", 1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = new_target(Path(tmp) / "mirrored_new_target")
        seconds, stdout = timed_command([sys.executable, "scripts/benchmark.py", f"benchmark.targets=[{folder}]",
                                         f"hydra.run.dir={Path(tmp) / 'run'}", "features.progress=false"])
    rows = "\n".join(f"| {t} | {s:.0f} |" for t, s in measured.items())
    verdict = "met" if wall / 60 <= 30 else "not met"
    committed = json.loads((ROOT / "docs" / "benchmark" / "benchmark.json").read_text())
    compared, differ, largest, accuracies = compare_numbers(cold, committed)
    body = f"""## Transfer benchmark (`python scripts/perf/bench_benchmark.py <cold run>/benchmark.json <its wall seconds>`)

Machine: {machine_facts()}.

**Whole catalog, cold** (10 targets x 9 sources, {kept['episodes']} episodes per k, protocols
{', '.join(kept['protocols'])}, one stage-1 seed, every feature and network cache empty at the start):
features {features_minutes:.1f} min (every split of the ten datasets through the ImageNet network once: the pooled
features and both protocols' cut activations come out of one forward pass; then the 224 px features),
stage-1 networks {stage1_minutes:.1f} min (20 networks), targets {targets_minutes:.1f} min (below; each includes
its model-free distances), evaluation the rest: {cold_minutes:.1f} min from the run's start to its results;
start-up and writing the reports and figures make **the whole command {wall / 60:.1f} min ({wall:,.0f} s); the goal
(<= 30 min) is {verdict}.** Stage-1 networks trained in {jobs} worker processes (`benchmark.jobs`); targets run
one after another. The run had the machine to itself. The margin, {30 * 60 - wall:.0f} s, is smaller than the spread
between cold runs of unchanged code seen here (1,907 to 2,024 s), so this is a goal met in one run, with no room
to spare. Its numbers against the committed benchmark's (docs/benchmark/benchmark.json): of {compared:,} numbers,
{accuracies} accuracies and {differ:,} numbers in all differ, by at most {largest:.1e} relative (LogME and shrinkage
H-score values, now computed in another order, and the statistics drawn from them).
Figures kept in docs/benchmark/cold_run_timings.json.

Where the time went in an earlier cold run profiled with cProfile (`python -m cProfile -o bench.prof
scripts/benchmark.py ...`; 70 min with the profiler's own overhead, which inflates many small Python calls):
stage-1 training 751 s; feature extraction (ImageNet features at 160 and 224 px, cut activations of both
protocols) 592 s; loading stage-1 checkpoints 867 s in 370 loads (each network was loaded again for every target
and split; now once per run, `finetune.benchmark.tail_of`); the bootstrap's 1.2 million SciPy weighted-tau calls
570 s (now one vectorised call per score and target, `finetune.evaluation.weighted_tau_rows`, equal to SciPy's);
few-shot episodes 420 s (in two worker processes); LogME's SVD about 2 s per network on 2,500 images (now the
d x d eigenproblem, 5x faster). Before those fixes a cold run took 43 min (sharing the machine with editing
and tests). The run after them, on a quiet machine, took 32 min (1,904 s: stage-1 networks 12.5 min, which then
included extracting the cut activations of their train and validation splits, once per protocol; targets
19.0 min, plants' 266 s included the pooled features of every dataset); since then one forward pass per split
gives the pooled features and both cuts (`recommender.features.extractor.ExtractorGroup`, outputs bit-identical to
separate passes, `tests/backbone/test_features.py`), and stage-1 networks train in `benchmark.jobs` worker
processes (one network's training leaves part of the two cores idle); every number the run writes is the same
as with one process (compared value by value). Targets in two workers as well were measured no faster (a
cold run of 1,990 s, targets 1,328 s), so they run one after another. That code's cold run: 2,024 s for the
whole command (33.7 min; features 298 s, stage-1 networks 415 s with 2 workers, targets 1,232 s, reports 46 s).
Profiled per target (aerial): the stage-1 networks' features of the target 58 s at 1.3 cores (18 checkpoint
loads included), episodes 85 s at 1.9 cores, model-based scores 53 s at 2.0 cores; the cores were busy, so
what followed cut work, keeping every result: the networks' tails run batch by batch without `predict()`'s
per-call set-up (35 % less time, bit-identical, tested); the batched L-BFGS stops evaluating problems that
have converged or already accepted their step (19 % less on one target's episodes, bit-identical, tested);
LogME and the shrinkage H-score no longer form n x d or d x d products they only need C columns of (25-45 %
less, equal to 1e-14; the plain H-score was left as it was, because with n near d its pseudo-inverse amplifies
rounding and the same trace summed in another order moved its weighted tau on xray from 0.35 to -0.06);
stage-1 networks train in 3 workers on the 2 cores (8 networks: 115 s against 127 s with 2); the scatter
figures draw each panel in one call. Overlapping the next target's network features with this target's
episodes in a thread was measured no faster (3 targets: 262 s against 257 s) and was not kept.

| target | seconds (cold) |
|---|---|
{rows}

**One new target added to the finished run** (a {3 * 60}-image folder never seen before; all 10 x 2 stage-1
networks cached): **{seconds:.0f} s** (goal <= 180 s), the whole `scripts/benchmark.py` command.
"""
    write_section("benchmark", body)
    print(body)


if __name__ == "__main__":
    main()
