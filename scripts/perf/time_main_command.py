"""Wall time of the main command from a fresh clone, as a user meets it; writes docs/main_command.md and .json.

    python scripts/perf/time_main_command.py [work folder]      # about 10 minutes; run it on a quiet machine

A fresh `git clone` of this checkout (committed files only) with ../shared beside it and an empty user cache
(XDG_CACHE_HOME), then, each under /usr/bin/time:
  1. the main command cold, with the shipped networks:   recommend-source target=plants
  2. a second catalog target (features of the catalog now cached):   target=flowers
  3. a new 250-image folder (5 Tiny ImageNet classes x 50 images, never seen by the catalog)
  4. a warm run: target=plants again
  5. the main command cold without the networks folder (RECOMMENDER_NETWORKS_DIR names an empty folder, and the
     caches are emptied again): every catalog network is trained here.
Each row gives the wall time, the peak memory and the longest silence on stderr (the longest gap between two
progress lines), since no phase should be silent for more than 10 s.
"""
from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"


def timed(cmd: list[str], cwd: Path, env: dict) -> dict:
    """Run `cmd` under /usr/bin/time -v, reading stderr line by line to find the longest silence."""
    started = time.perf_counter()
    proc = subprocess.Popen(["/usr/bin/time", "-v", *cmd], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    last, longest, err_lines = started, 0.0, []
    for line in proc.stderr:
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
        err_lines.append(line)
    out = proc.stdout.read()
    proc.wait()
    wall = time.perf_counter() - started
    text = "".join(err_lines)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    return {"command": " ".join(cmd), "returncode": proc.returncode, "wall_s": round(wall, 1),
            "peak_rss_mib": round(int(rss.group(1)) / 1024) if rss else None,
            "longest_silence_s": round(longest, 1), "first_line": out.splitlines()[0] if out else "",
            "stderr_tail": text[-1500:] if proc.returncode else ""}


def main() -> None:
    work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/time_main_command")
    if work.exists():
        shutil.rmtree(work)
    (work / "clone").mkdir(parents=True)
    clone = work / "clone" / "main"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    os.symlink(SHARED, work / "clone" / "shared")
    folder = work / "new_folder"
    pool = SHARED / "datasets" / "tinyimagenet"
    for cls in sorted(p.name for p in pool.iterdir() if p.is_dir())[:5]:
        (folder / cls).mkdir(parents=True)
        for image in sorted((pool / cls).iterdir())[:50]:
            shutil.copy(image, folder / cls / image.name)
    base = {k: v for k, v in os.environ.items() if not k.startswith("RECOMMENDER_")}
    env = {**base, "XDG_CACHE_HOME": str(work / "cache")}
    main_cmd = [sys.executable, "scripts/recommend.py"]
    rows = {}
    rows["cold, shipped networks"] = timed([*main_cmd, "target=plants"], clone, env)
    rows["second catalog target"] = timed([*main_cmd, "target=flowers"], clone, env)
    rows["new 250-image folder"] = timed([*main_cmd, f"target={folder}"], clone, env)
    rows["warm, same target"] = timed([*main_cmd, "target=plants"], clone, env)
    shutil.rmtree(work / "cache")
    (work / "no_networks").mkdir()
    rows["cold, no networks folder"] = timed([*main_cmd, "target=plants"], clone,
                                             {**env, "RECOMMENDER_NETWORKS_DIR": str(work / "no_networks")})
    facts = {"date": time.strftime("%Y-%m-%d"), "cpu": platform.processor() or platform.machine(),
             "cores": os.cpu_count(), "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone,
                                                                capture_output=True, text=True).stdout.strip()}
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
        facts["cpu"] = model
    except (OSError, StopIteration):
        pass
    out = ROOT / "docs" / "main_command"
    out.with_suffix(".json").write_text(json.dumps({"machine": facts, "runs": rows}, indent=1) + "\n")
    lines = ["# The main command's cost, from a fresh clone", "",
             f"`python scripts/perf/time_main_command.py` on {facts['cpu']} ({facts['cores']} cores), "
             f"{facts['date']}, commit {facts['commit']}: a fresh clone, an empty user cache, `/usr/bin/time`, the "
             "whole command with its reports. Longest silence: the longest gap between two lines on stderr.", "",
             "| run | command | wall | peak memory | longest silence | exit |", "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        shown = r["command"].replace(sys.executable, "python").replace(str(folder), "<250-image folder>")
        wall = f"{r['wall_s']:.1f}" if r["wall_s"] < 10 else f"{r['wall_s']:.0f}"
        lines.append(f"| {name} | `{shown}` | {wall} s | {r['peak_rss_mib']} MiB | "
                     f"{r['longest_silence_s']:.0f} s | {r['returncode']} |")
    lines += ["", "First line of each run's output:", ""]
    lines += [f"- {name}: {r['first_line']}" for name, r in rows.items()]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
