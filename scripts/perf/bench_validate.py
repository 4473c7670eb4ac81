"""Benchmark of the validation budget: `validate target=plants` with default settings, from a cold cache.

    python scripts/perf/bench_validate.py

Nine sources plus the ImageNet baseline, 3 seeds (goal: at most 45 minutes on a 2-core CPU). Writes its section
of docs/benchmarks.md and copies the validation report into docs/validation_plants/.
"""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from benchlib import ROOT, machine_facts, timed_command, write_section  # noqa: E402

REPORT_DIR = ROOT / "docs" / "validation_plants"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        command = [sys.executable, "scripts/validate.py", "target=plants", "features.progress=false",
                   f"features.cache_dir={tmp}/features", f"finetune.checkpoint_dir={tmp}/checkpoints",
                   f"hydra.run.dir={run}"]
        seconds, _ = timed_command(command)
        data = json.loads((run / "validation.json").read_text())
        REPORT_DIR.mkdir(parents=True, exist_ok=True)
        for name in ("validation.json", "validation.csv", "report.md", "similarity_vs_accuracy.png"):
            shutil.copy(run / name, REPORT_DIR / name)
    s = data["scores"]
    rows = "\n".join(
        f"| {r['rank'] if r['rank'] is not None else '—'} | {r['source']} | "
        f"{'—' if r['distance'] is None else format(r['distance'], '.3f')} | {r['accuracy_mean']:.3f} ± {r['accuracy_std']:.3f} |"
        for r in data["rows"])
    ft = data["config"]["finetune"]
    body = f"""## Validation budget (`python scripts/perf/bench_validate.py`)

Machine: {machine_facts()}.
Command: `python scripts/validate.py target=plants` (defaults: strategy `{ft['strategy']}`, top blocks
{ft['top_blocks']}, seeds {ft['seeds']}), nine sources plus the ImageNet baseline, **cold** feature and checkpoint
caches.

| | |
|---|---|
| wall time (goal ≤ 45 min) | **{seconds / 60:.1f} min** |
| Spearman rho (p) | {s['spearman_rho']:.3f} ({s['spearman_p']:.3f}) |
| Kendall tau (p) | {s['kendall_tau']:.3f} ({s['kendall_p']:.3f}) |
| weighted tau | {s['weighted_tau']:.3f} |
| top-1 regret, points | {s['top1_regret']:.1f} |
| sources differ beyond seed noise (ANOVA p) | {s['discriminates']} ({s['anova_p']:.3g}) |

| rank | source | distance | plants test accuracy (mean ± std, 3 seeds) |
|---|---|---|---|
{rows}

Full report: [docs/validation_plants/report.md](validation_plants/report.md).
"""
    write_section("validate", body)
    print(body)


if __name__ == "__main__":
    main()
