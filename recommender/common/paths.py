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
