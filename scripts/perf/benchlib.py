"""Helpers shared by the benchmark scripts: machine facts and writing one section of docs/benchmarks.md."""
from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH_FILE = ROOT / "docs" / "benchmarks.md"


def machine_facts() -> str:
    cpu = "unknown CPU"
    try:
        cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text()).group(1)
    except (OSError, AttributeError):
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import keras
    import tensorflow as tf

    return (f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores, {mem_gib:.0f} GiB RAM, "
            f"Python {platform.python_version()}, TensorFlow {tf.__version__}, Keras {keras.__version__}, no GPU used")


def timed_command(args: list[str], env: dict | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})})
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"benchmark command failed: {' '.join(args)}\n{done.stderr[-3000:]}")
    return elapsed, done.stdout


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section between <!-- bench:name --> markers, keeping the other sections."""
    BENCH_FILE.parent.mkdir(parents=True, exist_ok=True)
    text = BENCH_FILE.read_text() if BENCH_FILE.exists() else "# Benchmarks\n\nEvery number here was written by the script named in its section.\n"
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    BENCH_FILE.write_text(text)
