"""Worker processes shared by the benchmark and the prior_score distance: each worker runs TensorFlow
single-threaded, results come back in the order asked.
"""
from __future__ import annotations

import contextlib
import logging

from recommender.common.logs import Steps


def _die_with_parent() -> None:
    """Ask the kernel to send this worker SIGTERM when its parent dies (Linux prctl PR_SET_PDEATHSIG), so a
    killed or interrupted run leaves no worker behind holding a gigabyte and blocked on a pipe. Elsewhere, or
    without libc, nothing happens."""
    import ctypes
    import os
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(1)


def _init_worker() -> None:
    _die_with_parent()
    # Spawned workers start with logging unconfigured: send their INFO lines (stage-1 epochs) to stderr.
    # Plain lines, as the parent's console shows them, each written whole (one write per record).
    logging.basicConfig(level=logging.INFO, format="%(message)s")


@contextlib.contextmanager
def worker_pool(jobs: int):
    """`jobs` worker processes (None for one: everything runs here). Spawned, not forked: this process has
    TensorFlow's threads running. Each worker computes exactly what this process would (the same TensorFlow
    and BLAS thread settings), so results do not depend on `jobs`; only the wall time does."""
    if jobs <= 1:
        yield None
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with _caller_not_rerun(), ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                                  initializer=_init_worker) as pool:
        yield pool


@contextlib.contextmanager
def _caller_not_rerun():
    """Spawned workers import the caller's main module (by its file or its module name) before they run
    anything, so a plain script that calls `recommend()` at top level, with no `if __name__ == "__main__":`
    guard, would run again in every worker and break the pool. The workers only run this package's functions,
    so the main module is hidden from multiprocessing while the pool starts its workers: they start clean.
    Restored on exit."""
    import sys

    main = sys.modules.get("__main__")
    saved = {name: getattr(main, name) for name in ("__file__", "__spec__") if main is not None and
             hasattr(main, name)}
    for name in saved:
        if name == "__file__":
            delattr(main, name)
        else:
            setattr(main, name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(main, name, value)


def in_parallel(pool, function, calls: list[tuple], steps: Steps, names: list[str]) -> list:
    """[function(*args) for args in calls], in the pool's workers when there is one; results in call order.
    Each finished call is one step of `steps` (a log line, and the progress bar), named by `names`."""
    if pool is None:
        out = []
        for args, name in zip(calls, names):
            out.append(function(*args))
            steps.step(name)
        return out
    from concurrent.futures import as_completed

    from concurrent.futures.process import BrokenProcessPool

    from recommender.common.errors import RecommenderError

    futures = {pool.submit(function, *args): i for i, args in enumerate(calls)}
    out = [None] * len(calls)
    try:
        for future in as_completed(futures):
            out[futures[future]] = future.result()
            steps.step(names[futures[future]])
    except BrokenProcessPool:
        for future in futures:
            future.cancel()
        done = [names[i] for f, i in futures.items() if f.done() and not f.cancelled() and f.exception() is None]
        raise RecommenderError(
            f"a worker process died while working on {steps.what} (killed, or out of memory); "
            + (f"finished and kept: {', '.join(done)}; " if done else "")
            + "each result is written when it completes, so run the command again to do the rest"
            + " (with fewer workers, e.g. distance.jobs=1 or benchmark.jobs=1, if memory ran out).") from None
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return out
