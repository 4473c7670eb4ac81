"""The frozen feature extractor: an ImageNet MobileNetV2 from keras.applications, globally average-pooled.

Weights resolve offline first: `weights: imagenet` means the Keras file for the configured alpha
(224 px, no top), taken from `weights_dir` when it is there, else from Keras's own cache, else
downloaded by Keras exactly as `keras.applications` would.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from recommender.common.paths import IN_CHECKOUT, SHARED_DIR
from recommender.common.errors import RecommenderError

WEIGHTS_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
KERAS_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
PREPROCESSING = ("keras.applications.mobilenet_v2.preprocess_input; squash resize of RGB8 (OpenCV: area when shrinking, "
                 "bilinear when enlarging); JPEG draft >= size")


class BackboneError(RecommenderError, RuntimeError):
    """The backbone cannot be built as configured; the message says which file or option to fix."""


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    alpha: float
    image_size: int
    weights: str | None
    weights_dir: str | None = None

    def __post_init__(self):
        if self.name != "mobilenet_v2":
            raise BackboneError(f"backbone.name={self.name!r} is not supported; use mobilenet_v2.")
        if float(self.alpha) not in KERAS_ALPHAS:
            raise BackboneError(f"backbone.alpha={self.alpha} is not a Keras MobileNetV2 width {KERAS_ALPHAS}.")
        if int(self.image_size) < 32:
            raise BackboneError(f"backbone.image_size={self.image_size} is too small; use 32 or more.")


def default_weights_dir() -> Path:
    """RECOMMENDER_WEIGHTS_DIR, else ../shared/weights beside a checkout."""
    env = os.environ.get("RECOMMENDER_WEIGHTS_DIR")
    return Path(env).expanduser() if env else SHARED_DIR / "weights"


def weights_filename(alpha: float) -> str:
    """Keras' file name of the ImageNet MobileNetV2 weights (no top) for width `alpha`."""
    return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_224_no_top.h5"


def resolve_weights(spec: BackboneSpec) -> Path | None:
    """Path of the weights file to load (None for random initialisation, `weights: null`)."""
    if spec.weights in (None, "none", "null"):
        return None
    if spec.weights != "imagenet":
        path = Path(str(spec.weights)).expanduser()
        if not path.is_file():
            raise BackboneError(f"backbone.weights={spec.weights!r}: no such file.")
        return path
    fname = weights_filename(spec.alpha)
    weights_dir = Path(spec.weights_dir).expanduser() if spec.weights_dir else default_weights_dir()
    for candidate in (weights_dir / fname, Path.home() / ".keras" / "models" / fname):
        if candidate.is_file():
            return candidate
    try:
        import keras

        return Path(keras.utils.get_file(fname, WEIGHTS_BASE_URL + fname, cache_subdir="models"))
    except Exception as err:  # no network: say which file is missing and where it belongs
        # Beside a checkout, ../shared/weights is the place; in an installed wheel that path would be inside
        # the environment, so the message names the settings instead.
        beside_checkout = IN_CHECKOUT or weights_dir != SHARED_DIR / "weights"
        where = (f"Put {fname} into {weights_dir} (or set backbone.weights_dir / RECOMMENDER_WEIGHTS_DIR)"
                 if beside_checkout else
                 f"Download {fname} into a folder and set RECOMMENDER_WEIGHTS_DIR (or backbone.weights_dir) to it")
        raise BackboneError(
            f"ImageNet weights for MobileNetV2 alpha={spec.alpha} are not available offline and could not be "
            f"downloaded ({type(err).__name__}: {err}). {where}, or run once with network access."
        ) from err


def file_digest(path: Path | None) -> str:
    """The SHA-256 of a weights file ("random-init" for none): part of the backbone's identity."""
    if path is None:
        return "random-init"
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def identity(spec: BackboneSpec, weights_path: Path | None) -> dict:
    """Everything about the backbone that changes its features: part of every feature-cache key."""
    return {
        "name": spec.name,
        "alpha": float(spec.alpha),
        "image_size": int(spec.image_size),
        "weights_sha256": file_digest(weights_path),
        "preprocessing": PREPROCESSING,
    }


def build_backbone(spec: BackboneSpec, weights_path: Path | None, pooling: str | None = "avg"):
    """MobileNetV2 without top for `image_size` inputs, with the resolved weights loaded.

    The network is fully convolutional, so the 224 px ImageNet file fits any input size.
    """
    import keras

    model = keras.applications.MobileNetV2(
        input_shape=(int(spec.image_size), int(spec.image_size), 3),
        alpha=float(spec.alpha),
        include_top=False,
        weights=None,
        pooling=pooling,
    )
    if weights_path is not None:
        try:
            model.load_weights(str(weights_path))
        except (OSError, ValueError, KeyError) as err:  # a truncated or foreign file: the user's to replace
            raise BackboneError(f"the weights file {weights_path} cannot be loaded ({type(err).__name__}: "
                                f"{str(err)[:160]}); it may be truncated or not MobileNetV2 alpha {spec.alpha}: "
                                "replace it (backbone.weights_dir or RECOMMENDER_WEIGHTS_DIR).") from None
    return model


def preprocess(images):
    """Scale RGB 0..255 to the -1..1 range MobileNetV2 was trained on."""
    import keras

    return keras.applications.mobilenet_v2.preprocess_input(images)
