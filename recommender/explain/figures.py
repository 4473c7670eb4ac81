"""Why a source is recommended: transport plans, nearest images, a 2-D map of the domains, descriptor quality.

Everything here works on the cached per-image features; nothing runs the backbone again. The slow derived
results (2-D embeddings, neighbour searches) are cached beside the features too, and scikit-learn is imported
only when something has to be computed, so a fully cached run stays quick.
"""
from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np

from recommender.domains import Domain
from recommender.features.extractor import FeatureSet
from recommender.common.cache import cached_npz, key_of
from recommender.common.plotting import colour, figure, save_mosaic, save_png
from recommender.ranking import SourceResult

log = logging.getLogger(__name__)


def descriptor_quality(train: FeatureSet, test: FeatureSet, k: int = 5) -> dict:
    """How well the backbone's features describe a dataset: k-NN accuracy and precision@k on its test split,
    with its train split as the index (the content-based image retrieval view of a descriptor)."""
    if len(train.labels) == 0 or len(test.labels) == 0:
        raise ValueError(f"Dataset {train.dataset!r}: descriptor quality needs train and test images.")
    return knn_quality(train.features(), train.labels, test.features(), test.labels, k)


def knn_quality(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, k: int = 5) -> dict:
    """k-NN accuracy and precision@k of test rows against the train rows as the index (Euclidean)."""
    from sklearn.neighbors import KNeighborsClassifier

    k = int(min(k, len(x_train)))
    if k < 1 or len(x_test) == 0:
        raise ValueError("descriptor quality needs train and test images.")
    knn = KNeighborsClassifier(n_neighbors=k).fit(x_train, y_train)
    neighbours = knn.kneighbors(x_test, return_distance=False)
    return {
        "k": k,
        "knn_accuracy": float(knn.score(x_test, y_test)),
        "precision_at_k": float(np.mean(np.asarray(y_train)[neighbours] == np.asarray(y_test)[:, None])),
        "n_test": int(len(x_test)),
    }


def nearest(index_features: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean k nearest rows of `index_features` for each query row: (distances, indices)."""
    from sklearn.neighbors import NearestNeighbors

    k = int(min(k, len(index_features)))
    return NearestNeighbors(n_neighbors=k).fit(index_features).kneighbors(queries)


def cached_arrays(cache_dir: Path | None, kind: str, key_parts, compute) -> dict[str, np.ndarray]:
    """`compute()` (a dict of arrays), stored in `cache_dir` under a hash of `key_parts`; None: no caching."""
    if cache_dir is None:
        return compute()
    return cached_npz(Path(cache_dir) / f"{kind}-{key_of(key_parts)}.npz", compute)


def sample_per_class(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """A few row indices of each class, seeded, in class order."""
    rng = np.random.default_rng(seed)
    picks = [np.sort(rng.choice(np.flatnonzero(labels == c), min(per_class, int((labels == c).sum())),
                                replace=False)) for c in np.unique(labels)]
    return np.concatenate(picks) if picks else np.empty(0, int)


def plot_transport_plan(result: SourceResult, target: Domain, path: Path) -> None:
    """Heatmap of the plan: rows source classes, columns target classes; each cell mass and class distance.

    The numbers are in the cells, so there is no colour bar (it was a third of the drawing time). A plan with more
    than MAX_PLAN_CLASSES classes on a side shows the classes that carry the most mass, and says so."""
    keep_rows = _heaviest(result.plan.sum(axis=1), MAX_PLAN_CLASSES)
    keep_cols = _heaviest(result.plan.sum(axis=0), MAX_PLAN_CLASSES)
    plan, cost = result.plan[np.ix_(keep_rows, keep_cols)], result.cost[np.ix_(keep_rows, keep_cols)]
    rows, cols = plan.shape
    fig = figure((max(4.0, 1.1 * cols + 3), max(3.0, 0.45 * rows + 2)))
    ax = fig.add_subplot()
    ax.imshow(plan, cmap="Blues", aspect="auto")
    ax.set_xticks(range(cols), [target.class_names[j] for j in keep_cols], rotation=30, ha="right")
    ax.set_yticks(range(rows), [result.class_names[i] for i in keep_rows])
    peak = plan.max() or 1.0
    for i in range(rows):
        for j in range(cols):
            mass = plan[i, j]
            ax.text(j, i, f"{mass:.3g}\nd={cost[i, j]:.1f}" if mass > 1e-9 else f"d={cost[i, j]:.1f}",
                    ha="center", va="center", fontsize=9, color="white" if mass > 0.6 * peak else "black")
    ax.set_xlabel(f"target: {target.name}")
    ax.set_ylabel(f"source: {result.name}")
    hidden = (result.plan.shape[0] - rows, result.plan.shape[1] - cols)
    shown = "" if hidden == (0, 0) else \
        f"\n(the {rows} × {cols} classes carrying most mass; {hidden[0]} source and {hidden[1]} target classes more)"
    ax.set_title(f"Transport plan {result.name} → {target.name} (distance {result.distance:.2f}){shown}",
                 fontsize=10)
    save_png(fig, path)


MAX_PLAN_CLASSES = 20  # per side of a plan figure: beyond it, cells are unreadable and the PNG grows without bound
MAX_NEIGHBOUR_ROWS = 12  # sample target images in the nearest-images grid
MAX_MAP_LABELS = 30  # class names written on the domain map, per dataset


def _heaviest(mass: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n largest entries of `mass`, in their original order (ties: the earlier class)."""
    if len(mass) <= n:
        return np.arange(len(mass))
    return np.sort(np.argsort(-mass, kind="stable")[:n])


def thumbnail(ref, size: int = 96) -> np.ndarray:
    """A small RGB thumbnail of an image file, or a grey tile when it is not a readable file (e.g. a TFDS row)."""
    from recommender.data.images import UnreadableImageError, load_rgb, resize_array

    try:
        return resize_array(load_rgb(str(ref), size), size)
    except (UnreadableImageError, OSError):
        return np.full((size, size, 3), 200, np.uint8)


def plot_neighbours(target: FeatureSet, sources: list[FeatureSet], per_class: int, k: int, seed: int,
                    path: Path, tile: int = 96, cache_dir: Path | None = None) -> None:
    """Grid: each row a sample target image, then its k nearest images of each source, with distances."""
    queries = sample_per_class(target.labels, per_class, seed)
    if len(queries) > MAX_NEIGHBOUR_ROWS:  # thousands of classes: a seeded dozen of them, not a grid per class
        queries = np.sort(np.random.default_rng(seed).choice(queries, MAX_NEIGHBOUR_ROWS, replace=False))
    q_feats = target.features()[queries]
    columns = [(target, None, None)]
    for src in sources:
        found = cached_arrays(cache_dir, "neighbours", [target.path.name, src.path.name, per_class, k, seed,
                                                         MAX_NEIGHBOUR_ROWS],
                              lambda: dict(zip(("dist", "idx"), nearest(src.features(), q_feats, k))))
        dist, idx = found["dist"], found["idx"]
        columns += [(src, dist[:, j], idx[:, j]) for j in range(idx.shape[1])]
    tiles, captions = [], []
    for r, q in enumerate(queries):
        tiles.append([])
        captions.append([])
        for fs, dist, idx in columns:
            i = q if idx is None else idx[r]
            tiles[-1].append(thumbnail(fs.refs[i], tile))
            name = fs.dataset if dist is None else f"{fs.dataset}  d={dist[r]:.1f}"
            captions[-1].append((f"{name}\n{fs.class_names[fs.labels[i]]}", "darkred" if dist is None else "black"))
    save_mosaic(tiles, captions, "Sample target images (left column) and their nearest source images "
                "(Euclidean distance of backbone features)", path)


def domain_map_points(feature_sets: list[FeatureSet], per_dataset: int, seed: int):
    """Sampled per-image features of each dataset: (rows, index of the dataset of each row, class of each row)."""
    rng = np.random.default_rng(seed)
    rows, owner, labels = [], [], []
    for d, fs in enumerate(feature_sets):
        feats = fs.features()
        take = np.sort(rng.choice(len(feats), min(per_dataset, len(feats)), replace=False))
        rows.append(feats[take])
        owner.append(np.full(len(take), d))
        labels.append(fs.labels[take])
    return np.concatenate(rows), np.concatenate(owner), np.concatenate(labels)


def embeddings_2d(points: np.ndarray, seed: int, extra: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """PCA and t-SNE (and UMAP where its package is installed) of the points, each (n, 2).

    `extra` rows (class means) are projected with the same PCA as "PCA_extra"; t-SNE and UMAP have no
    out-of-sample transform.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    pca = PCA(n_components=2, random_state=seed).fit(points)
    out = {"PCA": pca.transform(points)}
    if extra is not None:
        out["PCA_extra"] = pca.transform(extra)
    reduced = PCA(n_components=min(50, *points.shape), random_state=seed).fit_transform(points)
    perplexity = float(min(30, max(2, (len(points) - 1) / 3)))
    out["t-SNE"] = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(reduced)
    if importlib.util.find_spec("umap") is None:
        log.info("umap-learn is not installed; the domain map shows PCA and t-SNE only.")
    else:
        import umap

        out["UMAP"] = umap.UMAP(n_components=2, random_state=seed, n_jobs=1).fit_transform(reduced)
    return out


def plot_domain_map(feature_sets: list[FeatureSet], domains: list[Domain], per_dataset: int, seed: int,
                    path: Path, cache_dir: Path | None = None) -> int:
    """One PNG: per-image features of the target and sources in 2-D, coloured by dataset, class means labelled.

    Returns the number of image points drawn in each panel. Class means are projected with the same PCA; for
    t-SNE/UMAP (no out-of-sample transform) each class mean is placed at the centroid of its class's points.
    """
    points, owner, labels = domain_map_points(feature_sets, per_dataset, seed)
    # The map is drawn in the backbone's own feature space; a distance may compare domains in a normalised one.
    means = np.concatenate([np.stack([fs.class_sums[fs.class_names.index(c)] / fs.class_counts[fs.class_names.index(c)]
                                      for c in dom.class_names]) for fs, dom in zip(feature_sets, domains)])
    key = [[fs.path.name for fs in feature_sets], per_dataset, seed, importlib.util.find_spec("umap") is not None]
    maps = cached_arrays(cache_dir, "map2d", key, lambda: embeddings_2d(points, seed, means))
    mean_xy = dict(zip([(d, c) for d, dom in enumerate(domains) for c in dom.class_names], maps.pop("PCA_extra")))
    # One panel per row at the report's page width (about 1,100 px): side by side, a report shrank the labels to
    # a few pixels.
    fig = figure((11, 7 * len(maps)))
    axes = fig.subplots(len(maps), 1, squeeze=False)[:, 0]
    for ax, (method, xy) in zip(axes, maps.items()):
        span = np.ptp(xy, axis=0) + 1e-12
        placed: list[np.ndarray] = []  # labels already drawn, in units of the map's extent
        for d, fs in enumerate(feature_sets):
            mine = owner == d
            ax.scatter(xy[mine, 0], xy[mine, 1], s=8, alpha=0.5, color=colour(d), label=fs.dataset)
            centres = {}
            for c, class_name in enumerate(fs.class_names):
                members = mine & (labels == c)
                if not members.any():
                    continue
                if method != "PCA":
                    centres[class_name] = xy[members].mean(axis=0)
                elif (d, class_name) in mean_xy:  # a class dropped from the domain has no mean
                    centres[class_name] = mean_xy[(d, class_name)]
            if not centres:
                continue
            # One scatter for all of a dataset's class means: a call per marker is most of the drawing time.
            xy_means = np.array(list(centres.values()))
            ax.scatter(xy_means[:, 0], xy_means[:, 1], marker="X", s=90, color=colour(d), edgecolor="black",
                       linewidth=0.8)
            # Thousands of labels would cover the map: name the MAX_MAP_LABELS largest classes of each dataset.
            counts = {c: int(fs.class_counts[fs.class_names.index(c)]) for c in centres}
            named = sorted(centres, key=lambda c: -counts[c])[:MAX_MAP_LABELS]
            for class_name in named:
                # A label closer than a few per cent of the map to one already drawn would print over it: skipped.
                where = np.asarray(centres[class_name]) / span
                if any(abs(where[0] - p[0]) < 0.12 and abs(where[1] - p[1]) < 0.035 for p in placed):
                    continue
                placed.append(where)
                ax.annotate(class_name, centres[class_name], fontsize=10, xytext=(4, 4), textcoords="offset points")
        ax.set_title(f"{method} of per-image features (X = class mean)", fontsize=13)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend(fontsize=11, markerscale=2)
    save_png(fig, path)
    return int(len(points))
