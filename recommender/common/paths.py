"""Where the installed package finds what it ships (conf/ and the measured evidence, package data of
`recommender.conf`) and where the offline set-up keeps data it does not ship (../shared beside a checkout)."""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

# conf/ travels in the wheel as the package `recommender.conf` (pyproject.toml maps it); an editable install
# maps it to the checkout's conf/. Either way the library reads it through the import system.
CONF_DIR = Path(str(files("recommender.conf")))
EVIDENCE_DIR = CONF_DIR / "evidence"
# The offline default for datasets and weights: ../shared beside a checkout. An installed wheel has no such
# folder, and RECOMMENDER_DATA_ROOT / RECOMMENDER_WEIGHTS_DIR (or data_root=) say where they are.
SHARED_DIR = Path(__file__).resolve().parents[3] / "shared"
# Whether this package runs from a checkout (editable install) rather than an installed wheel.
IN_CHECKOUT = (Path(__file__).resolve().parents[2] / "pyproject.toml").is_file()

APP_NAME = "pretrain-recommender"


def user_cache_dir() -> Path:
    """This user's cache folder for the tool (what platformdirs gives): $XDG_CACHE_HOME or ~/.cache on Linux,
    ~/Library/Caches on macOS, %LOCALAPPDATA% on Windows; then `pretrain-recommender`."""
    import os
    import sys

    if sys.platform == "darwin":
        base = Path("~/Library/Caches").expanduser()
    elif sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path("~/AppData/Local").expanduser())
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path("~/.cache").expanduser())
    return base / APP_NAME


def cache_dir(kind: str) -> str:
    """The default folder of one cache kind ("features", "checkpoints"): a `.cache` folder in the working folder
    when there is one (a checkout's existing cache keeps working), else the user's cache folder, so a script run
    from any folder finds the same cache. RECOMMENDER_CACHE_DIR / RECOMMENDER_CHECKPOINT_DIR override it (conf/)."""
    local = Path(".cache")
    return str(local / kind) if local.is_dir() else str(user_cache_dir() / kind)
