"""Shared fixtures: small generated image folders, a test configuration, and the real shared data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import recommender  # noqa: F401  (sets the quiet-TensorFlow / POT-backend environment first)
from recommender import load_config

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SHARED_DATASETS = SHARED / "datasets"
SHARED_WEIGHTS = SHARED / "weights"

needs_shared = pytest.mark.skipif(not SHARED_DATASETS.is_dir(), reason="../shared/datasets is not present")


def write_image(path: Path, rgb, size=(40, 30), noise_seed=0, mode="RGB", fmt=None):
    """A small image of colour `rgb` plus noise, saved in `mode`."""
    rng = np.random.default_rng(noise_seed)
    base = np.clip(np.asarray(rgb, float) + rng.normal(0, 12, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    img = Image.fromarray(base, "RGB")
    if mode != "RGB":
        img = img.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format=fmt)
    return path


def make_folder_dataset(root: Path, classes: dict[str, tuple], per_class: int = 6, seed: int = 0) -> Path:
    """root/<class>/<i>.png, each class a colour: easy to tell apart for any backbone."""
    for c, (name, rgb) in enumerate(classes.items()):
        for i in range(per_class):
            write_image(root / name / f"{i:03d}.png", rgb, noise_seed=seed * 1000 + c * 100 + i)
    return root


@pytest.fixture
def colour_dataset(tmp_path) -> Path:
    return make_folder_dataset(tmp_path / "colours", {"red": (220, 30, 30), "blue": (30, 30, 220),
                                                       "green": (30, 200, 40)})


@pytest.fixture
def test_overrides(tmp_path) -> list[str]:
    """A fast configuration: the smallest real backbone at a small size, a private cache."""
    return [
        "backbone.alpha=0.35",
        "backbone.image_size=64",
        f"backbone.weights_dir={SHARED_WEIGHTS}",
        f"features.cache_dir={tmp_path / 'cache'}",
        "features.batch_size=16",
        "features.progress=false",
        "domain.min_images_per_class=1",
        # The quick ranking: the default (prior_score) trains every source's network; its own tests ask for it.
        "distance=prior_mix",
    ]


@pytest.fixture
def cfg_factory(test_overrides):
    def make(*extra: str):
        return load_config([*test_overrides, *extra])

    return make


@pytest.fixture(autouse=True)
def _no_env_leaks(monkeypatch):
    # Tests name their own data root, weights and cache; the developer's environment must not leak in.
    for var in ("RECOMMENDER_DATA_ROOT", "RECOMMENDER_WEIGHTS_DIR", "RECOMMENDER_CACHE_DIR", "RECOMMENDER_NETWORKS_DIR"):
        monkeypatch.delenv(var, raising=False)
    # Every figure any test draws (in this process or a script it runs) is checked for text below 9 pt.
    monkeypatch.setenv("RECOMMENDER_CHECK_FONTS", "1")
    yield


def pytest_collection_modifyitems(config, items):
    """tests/unit: no network weights; tests/backbone: the real MobileNetV2 on small images (needs_weights);
    tests/e2e: whole scripts on real data (needs_weights and slow). `-m "not slow"` is the quick loop."""
    weights_missing = not any(SHARED_WEIGHTS.glob("*.h5"))
    for item in items:
        part = Path(str(item.fspath)).parent.name
        if part in ("backbone", "e2e"):
            item.add_marker(pytest.mark.needs_weights)
            if weights_missing:
                item.add_marker(pytest.mark.skip(reason=f"no MobileNetV2 weights in {SHARED_WEIGHTS}"))
        if part == "e2e":
            item.add_marker(pytest.mark.slow)
