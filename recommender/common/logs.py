"""What a run shows a person: plain console lines (warnings marked), the same lines in the run's log file, and
TensorFlow's C++ start-up chatter kept out of both."""
from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile

OUTPUT = logging.getLogger("recommender.output")


def say(text: str) -> None:
    """Show `text` on the console and keep it in the run's log file (Hydra's job logging sends both)."""
    for line in str(text).splitlines() or [""]:
        OUTPUT.info(line)


class ConsoleFormatter(logging.Formatter):
    """Information as it is; a warning or an error says which it is. The log file keeps the timestamps."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        return message if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {message}"


class NotRetracing(logging.Filter):
    """Drops TensorFlow's "calls ... triggered tf.function retracing" hint: scoring one target through each
    source's network calls a new model each time, so a retrace per network is expected and costs nothing worth
    a warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


# What TensorFlow's C++ runtime writes to the process's stderr while it is imported: absl's notice and its
# informational lines (I0000 ... port.cc / cudart_stub.cc). TF_CPP_MIN_LOG_LEVEL no longer silences them.
_NOISE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR|"
                    r"I\d{4} [\d:. ]+\d+ \S+:\d+\] .*)$")


class _QuietTensorFlow(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports `tensorflow` with file descriptor 2 caught, then writes back every caught line that is not the
    runtime's start-up notice: a real error during the import is still shown."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return None
        self._loader = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        sys.meta_path[:] = [f for f in sys.meta_path if f is not self]
        try:
            sys.stderr.flush()
        except (AttributeError, OSError, ValueError):
            pass
        with tempfile.TemporaryFile(mode="w+b") as caught:
            saved = os.dup(2)
            os.dup2(caught.fileno(), 2)
            try:
                self._loader.exec_module(module)
            finally:
                try:
                    sys.stderr.flush()
                except (AttributeError, OSError, ValueError):
                    pass
                os.dup2(saved, 2)
                os.close(saved)
                caught.seek(0)
                kept = [line for line in caught.read().decode(errors="replace").splitlines()
                        if line.strip() and not _NOISE.match(line)]
                if kept:
                    print("\n".join(kept), file=sys.stderr)


def quiet_tensorflow() -> None:
    """Silence TensorFlow's start-up chatter for this process (once; a no-op when it is already imported)."""
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorFlow) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlow())


class Steps:
    """One log line per finished step of a long phase ("stage-1 networks 3/20: flowers, 2 min so far, about
    9 min left"), whether or not progress bars are shown, and the bar (tqdm) advanced with it when given."""

    def __init__(self, what: str, total: int, logger: logging.Logger | None = None, bar=None):
        import time

        self.what, self.total, self.done, self.bar = what, int(total), 0, bar
        self.log = logger or logging.getLogger("recommender.progress")
        self._clock = time.perf_counter
        self.started = self._clock()

    def step(self, name: str = "") -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update()
        elapsed = self._clock() - self.started
        left = "" if self.done >= self.total else \
            f", about {_duration(elapsed / self.done * (self.total - self.done))} left"
        self.log.info("%s %d/%d%s: %s so far%s", self.what, self.done, self.total, f" ({name})" if name else "",
                      _duration(elapsed), left)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
