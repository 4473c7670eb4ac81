"""Compose the Hydra configuration from the packaged conf/ for library use and tests (commands get it from
@hydra.main)."""
from __future__ import annotations

from typing import Sequence

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from recommender.common.paths import CONF_DIR


def load_config(overrides: Sequence[str] = (), config_name: str = "config") -> DictConfig:
    """The configuration `scripts/recommend.py` would see with these command-line overrides.

    Parameters
    ----------
    overrides : sequence of str
        Hydra overrides, as on the command line: ``["target=plants", "distance=prior_mix"]``.
    config_name : str
        A configuration of the packaged conf/ (``config`` for recommend, ``benchmark``, ``validate``, ...).

    Returns
    -------
    DictConfig
        The composed configuration; pass it to ``recommend(cfg=...)``.

    Examples
    --------
    >>> cfg = load_config(["target=plants", "distance=prior_mix"])
    >>> cfg.distance.name
    'prior_mix'
    """
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        return compose(config_name=config_name, overrides=list(overrides))
