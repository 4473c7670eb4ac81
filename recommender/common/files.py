"""Atomic file output: a result appears under its name complete, or not at all."""
from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_output(path: str | Path, suffix: str = ".tmp"):
    """Yield a temporary path beside `path`; on success it is renamed to `path`, on any error removed.

    A crash or Ctrl-C therefore never leaves a half-written cache entry or checkpoint that a later run would trust.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path.name), suffix=f".partial{suffix}")
    os.close(fd)
    try:
        try:
            yield tmp
        except OSError as err:  # name the result that could not be written, not its temporary
            if tmp in (err.filename, err.filename2) or err.filename is None:
                err.filename, err.filename2 = str(path), None
            raise
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; the result gets the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


_TEMPORARY = re.compile(r".*\.pid(\d+)\.(?:h([0-9a-f]{8})\.)?[^/]*\.(partial[^/]*|raw)$")
# A temporary file of another machine (a cache folder shared over the network) is left alone this long: its
# writer's PID means nothing here, so only its age can say it was abandoned.
FOREIGN_TEMPORARY_SECONDS = 24 * 3600


def _host_tag() -> str:
    import hashlib
    import socket

    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def temporary_prefix(name: str) -> str:
    """The prefix of a temporary file written for `name`: it carries the writer's PID and a tag of its machine,
    so a later run can tell an orphan (its writer was killed) from a file that another live run, on this machine
    or on another one sharing the folder, is still writing."""
    return f".{name}.pid{os.getpid()}.h{_host_tag()}."


def clean_stale_temporaries(directory: str | Path) -> int:
    """Remove temporary files in `directory` whose writing process no longer exists; returns how many."""
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    import time

    here = _host_tag()
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if not match:
            continue
        if match.group(2) not in (None, here):  # another machine's: only its age can say it is abandoned
            try:
                if time.time() - entry.stat().st_mtime < FOREIGN_TEMPORARY_SECONDS:
                    continue
            except OSError:
                continue
        elif _alive(int(match.group(1))):
            continue
        try:
            os.unlink(entry.path)
            removed += 1
        except OSError:
            pass
    if removed:
        log.warning("Removed %d temporary file(s) left in %s by interrupted runs.", removed, directory)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def write_text_atomic(path: str | Path, text: str) -> None:
    """`path` holds `text` whole, or keeps what it held: a full disk leaves no half-written report."""
    path = Path(path)
    with atomic_output(path, path.suffix) as tmp:
        Path(tmp).write_text(text, encoding="utf-8", errors="surrogateescape")
