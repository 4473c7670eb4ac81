"""Content-based image retrieval over the cached features: the k most similar images to a query image.

The index is each dataset's train split (what `recommend` has already cached); only the query is encoded.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from omegaconf import DictConfig

from recommender.describe import dataset_features, make_extractor
from recommender.common.errors import RecommenderError
from recommender.explain.figures import nearest, thumbnail
from recommender.features.extractor import Extractor, FeatureSet
from recommender.data.images import UnreadableImageError, load_rgb, resize_array
from recommender.common.plotting import save_mosaic


@dataclass(frozen=True)
class Match:
    rank: int
    dataset: str
    class_name: str
    ref: str
    distance: float


class RetrievalIndex:
    """Per-image features of several datasets, stacked, with where each row came from."""

    def __init__(self, feature_sets: Sequence[FeatureSet], embed: Callable[[np.ndarray], np.ndarray] | None = None):
        if not feature_sets:
            raise RecommenderError("Retrieval needs at least one dataset: datasets=all or datasets=[name,...].")
        self.feature_sets = list(feature_sets)
        self.embed = embed or (lambda x: x)  # a learned embedding (scripts/metric_learn.py), or the raw features
        self.features = self.embed(np.concatenate([fs.features() for fs in self.feature_sets]))
        self.owner = np.concatenate([np.full(len(fs.refs), i) for i, fs in enumerate(self.feature_sets)])
        self.row = np.concatenate([np.arange(len(fs.refs)) for fs in self.feature_sets])

    def search(self, query_features: np.ndarray, k: int) -> list[Match]:
        distances, rows = nearest(self.features, self.embed(query_features.reshape(1, -1)), k)
        matches = []
        for rank, (d, r) in enumerate(zip(distances[0], rows[0]), start=1):
            fs, i = self.feature_sets[self.owner[r]], self.row[r]
            matches.append(Match(rank, fs.dataset, fs.class_names[fs.labels[i]], str(fs.refs[i]), float(d)))
        return matches


def build_index(datasets: Sequence[str], cfg: DictConfig, extractor: Extractor | None = None,
                embed: Callable[[np.ndarray], np.ndarray] | None = None) -> RetrievalIndex:
    """A retrieval index over the train-split features of `datasets` (cached), optionally in a learned
    embedding (`embed`)."""
    if not datasets:
        raise RecommenderError("Retrieval needs at least one dataset: datasets=all or datasets=[name,...].")
    extractor = extractor or make_extractor(cfg)
    return RetrievalIndex([dataset_features(name, cfg, "train", extractor) for name in datasets], embed)


def load_embedding(path: str | Path, feature_dim: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """A saved embedding head (scripts/metric_learn.py writes head.keras) as a function features -> embedding.
    It must take the backbone's pooled features (`feature_dim` numbers) and give at least two numbers per image:
    a one-number "embedding" ranks every image along a line, which is no retrieval."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise RecommenderError(f"embedding={path}: no such file; train one with scripts/metric_learn.py.")
    import keras

    try:
        head = keras.models.load_model(path, compile=False)
    except Exception as err:  # not a Keras file, or a truncated one
        raise RecommenderError(f"embedding={path} is not a readable Keras model ({err}).") from err
    try:
        inputs, outputs = tuple(head.input_shape), tuple(head.output_shape)
    except (AttributeError, ValueError) as err:  # several inputs or outputs
        raise RecommenderError(f"embedding={path}: a head takes one input and gives one output ({err}).") from None
    if len(inputs) != 2 or (feature_dim is not None and inputs[1] != feature_dim):
        raise RecommenderError(f"embedding={path} takes inputs of shape {inputs}, not the backbone's pooled "
                               f"features (None, {feature_dim}); train it on these features with "
                               "scripts/metric_learn.py and the same backbone options.")
    if len(outputs) != 2 or outputs[1] is None or outputs[1] < 2:
        raise RecommenderError(f"embedding={path} gives outputs of shape {outputs}; an embedding needs at least "
                               "two numbers per image.")
    return lambda x: np.asarray(head.predict(np.asarray(x, np.float32), batch_size=1024, verbose=0))


def encode_query(path: str | Path, extractor: Extractor) -> np.ndarray:
    """The query's features; grayscale, RGBA, palette and 16-bit images are converted to RGB first."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise RecommenderError(f"query={path}: no such image file.")
    try:
        image = load_rgb(path, extractor.spec.image_size)
    except UnreadableImageError as err:
        raise RecommenderError(f"query={path} is not an image that can be read ({err}).") from err
    size = int(extractor.spec.image_size)
    return extractor(resize_array(image, size)[None])[0]


def plot_matches(query: str | Path, matches: list[Match], path: Path, per_row: int = 6) -> None:
    """The query (top left, in red) and its matches in rank order, with dataset, class and distance."""
    tiles = [thumbnail(query, 128), *(thumbnail(m.ref, 128) for m in matches)]
    captions = [("query", "darkred"), *((f"{m.rank}. {m.dataset}  d={m.distance:.2f}\n{m.class_name[:20]}", "black")
                                        for m in matches)]
    rows = range(0, len(tiles), per_row)
    save_mosaic([tiles[i : i + per_row] for i in rows], [captions[i : i + per_row] for i in rows],
                "Query image and its nearest images (Euclidean distance of backbone features)", path)
