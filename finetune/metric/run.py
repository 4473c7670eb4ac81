"""Train a retrieval head on a dataset's cached features and measure it against the raw features."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from recommender import dataset_features, load_images, make_extractor, open_dataset
from recommender.explain.figures import knn_quality
from recommender.common.plotting import colour, figure, save_png

from finetune.metric.learn import train_head


def augmented_features(images, cfg: DictConfig, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features of one augmented copy of every train image: random horizontal flip, shift (10%), zoom (10%) and
    rotation (5 degrees), one OpenCV affine warp each, through the frozen backbone."""
    import cv2

    x, y = load_images(images, cfg, "train")
    rng = np.random.default_rng(seed)
    size = x.shape[1]
    out = np.empty_like(x)
    for i, img in enumerate(x):
        angle, zoom = rng.uniform(-5, 5), rng.uniform(0.9, 1.1)
        matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, zoom)
        matrix[:, 2] += rng.uniform(-0.1, 0.1, 2) * size
        warped = cv2.warpAffine(img, matrix, (size, size), borderMode=cv2.BORDER_REFLECT)
        out[i] = warped[:, ::-1] if rng.random() < 0.5 else warped
    extractor = make_extractor(cfg)
    return np.concatenate([extractor(out[i : i + 64]) for i in range(0, len(out), 64)]), y


def learn_embedding(cfg: DictConfig, out_dir) -> dict:
    """Learn a retrieval embedding on the target's train split and report k-NN accuracy and precision@k on
    its test split against the raw features."""
    m = cfg.metric
    images = open_dataset(str(cfg.target), cfg)
    split = {s: dataset_features(images, cfg, s) for s in ("train", "val", "test")}
    x = {s: f.features() for s, f in split.items()}
    y = {s: f.labels for s, f in split.items()}
    x_fit, y_fit = x["train"], y["train"]
    if m.augment:
        extra_x, extra_y = augmented_features(images, cfg)
        x_fit, y_fit = np.concatenate([x_fit, extra_x]), np.concatenate([y_fit, extra_y])
    head = train_head(x_fit, y_fit, x["val"], y["val"], str(cfg.loss), int(m.dim), float(m.margin), int(m.epochs),
                      int(m.batch_size), float(m.learning_rate), int(cfg.seed))
    embedded = {s: head.predict(v, batch_size=512, verbose=0) for s, v in x.items()}
    k = int(cfg.report.knn_k)
    raw = knn_quality(x["train"], y["train"], x["test"], y["test"], k)
    learned = knn_quality(embedded["train"], y["train"], embedded["test"], y["test"], k)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    head.save(out / "head.keras")
    plot_maps(x["test"], embedded["test"], y["test"], images.class_names, out / "umap.png",
              f"{images.name}: test split, raw features vs {cfg.loss} head", int(cfg.seed))
    result = {"dataset": images.name, "loss": str(cfg.loss), "augment": bool(m.augment), "k": k,
              "raw": raw, "learned": learned, "head": str(out / "head.keras"),
              "config": OmegaConf.to_container(cfg, resolve=True)}
    (out / "metric.json").write_text(json.dumps(result, indent=1))
    return result


def plot_maps(raw: np.ndarray, learned: np.ndarray, labels: np.ndarray, class_names: list[str], path: Path,
              title: str, seed: int) -> None:
    """Two 2-D maps of the same images (UMAP when umap-learn is installed, else PCA), coloured by class."""
    try:
        import umap

        def project(z):
            return umap.UMAP(random_state=seed, n_neighbors=15).fit_transform(z)
        method = "UMAP"
    except ImportError:
        from sklearn.decomposition import PCA

        def project(z):
            return PCA(2, random_state=seed).fit_transform(z)
        method = "PCA"
    fig = figure((11, 5))
    for i, (name, z) in enumerate((("raw features", raw), ("learned embedding", learned))):
        ax = fig.add_subplot(1, 2, i + 1)
        xy = project(z)
        for c, cname in enumerate(class_names):
            keep = labels == c
            ax.scatter(xy[keep, 0], xy[keep, 1], s=6, color=colour(c), label=cname)
        ax.set_title(f"{name} ({method})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.axes[0].legend(fontsize=9, markerscale=2)
    fig.suptitle(title, fontsize=10)
    save_png(fig, path)
