"""A learned embedding for retrieval: a small projection of the frozen features, trained with a triplet loss
(semi-hard negatives mined in the batch) or with cross-entropy, on a dataset's cached train-split features.

Triplet loss with semi-hard mining: Schroff, Kalenichenko, Philbin, "FaceNet: A Unified Embedding for Face
Recognition and Clustering", CVPR 2015. For every anchor-positive pair (a, p) of one class in a batch, the
negative n is the closest one that is still farther than the positive, d(a,p) < d(a,n) (semi-hard; within
the margin it still gives a gradient); when there is none, the farthest negative. Loss: the mean over pairs of
max(d(a,p) - d(a,n) + margin, 0), with Euclidean distances between L2-normalised embeddings.
"""
from __future__ import annotations

import numpy as np

LOSSES = ("triplet", "crossentropy")


def pairwise_distances(x: np.ndarray) -> np.ndarray:
    """Euclidean distances between every pair of rows of `x`."""
    sq = np.sum(x**2, axis=1)
    return np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0))


def semi_hard_negatives(distances: np.ndarray, labels: np.ndarray) -> dict[tuple[int, int], int]:
    """The negative chosen for each anchor-positive pair (a, p), a != p, by the rule in the module docstring."""
    labels = np.asarray(labels)
    chosen = {}
    for a in range(len(labels)):
        negatives = np.flatnonzero(labels != labels[a])
        if len(negatives) == 0:
            continue
        for p in np.flatnonzero(labels == labels[a]):
            if p == a:
                continue
            farther = negatives[distances[a, negatives] > distances[a, p]]
            chosen[(a, int(p))] = int(farther[np.argmin(distances[a, farther])] if len(farther)
                                      else negatives[np.argmax(distances[a, negatives])])
    return chosen


def triplet_loss_reference(embeddings: np.ndarray, labels: np.ndarray, margin: float) -> float:
    """The loss by the rule, with explicit loops: what the Keras loss is tested against."""
    d = pairwise_distances(np.asarray(embeddings, float))
    terms = [max(d[a, p] - d[a, n] + margin, 0.0) for (a, p), n in semi_hard_negatives(d, labels).items()]
    return float(np.mean(terms)) if terms else 0.0


def triplet_semi_hard_loss(margin: float = 0.5):
    """The same loss in keras.ops (any backend), for model.compile(loss=...); y_true holds integer labels."""
    from keras import ops

    def loss(y_true, y_pred):
        labels = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        sq = ops.sum(ops.square(y_pred), axis=1)
        d = ops.sqrt(ops.maximum(sq[:, None] + sq[None, :] - 2.0 * ops.matmul(y_pred, ops.transpose(y_pred)), 1e-12))
        same = ops.equal(labels[:, None], labels[None, :])
        n = ops.shape(labels)[0]
        eye = ops.cast(ops.eye(n), "bool")
        positive = ops.logical_and(same, ops.logical_not(eye))  # (a, p)
        negative = ops.logical_not(same)  # (a, n)
        d_ap = d[:, :, None]  # anchor a, positive p, negative n
        d_an = d[:, None, :]
        candidates = ops.logical_and(negative[:, None, :], d_an > d_ap)
        big = ops.max(d) + 1.0
        closest_farther = ops.min(ops.where(candidates, d_an, big), axis=2)
        farthest = ops.max(ops.where(negative, d, -1.0), axis=1)[:, None]
        has_farther = ops.any(candidates, axis=2)
        chosen = ops.where(has_farther, closest_farther, farthest)
        valid = ops.logical_and(positive, ops.any(negative, axis=1)[:, None])
        terms = ops.maximum(d - chosen + margin, 0.0)
        mask = ops.cast(valid, y_pred.dtype)
        return ops.sum(terms * mask) / ops.maximum(ops.sum(mask), 1.0)

    return loss


def build_head(input_dim: int, dim: int, loss: str, n_classes: int):
    """(model to train, embedding model): Dense(dim) -> L2-normalise; cross-entropy adds a softmax layer on top."""
    import keras

    inputs = keras.Input((input_dim,), name="features")
    x = keras.layers.Dense(int(dim), name="projection")(inputs)
    embedding = keras.layers.UnitNormalization(name="embedding")(x)
    embedder = keras.Model(inputs, embedding, name="embedding_head")
    if loss == "triplet":
        return embedder, embedder
    outputs = keras.layers.Dense(int(n_classes), activation="softmax", name="classifier")(embedding)
    return keras.Model(inputs, outputs, name="crossentropy_head"), embedder


def train_head(x_train, y_train, x_val, y_val, loss: str, dim: int = 256, margin: float = 0.5, epochs: int = 40,
               batch_size: int = 128, learning_rate: float = 1e-3, seed: int = 0):
    """Train a head on features; returns the embedding model (features -> L2-normalised embedding)."""
    import keras

    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r}; use one of {LOSSES}.")
    keras.utils.set_random_seed(int(seed))
    classes = np.unique(y_train)
    model, embedder = build_head(x_train.shape[1], dim, loss, len(classes))
    model.compile(optimizer=keras.optimizers.Adam(float(learning_rate)),
                  loss=triplet_semi_hard_loss(margin) if loss == "triplet" else "sparse_categorical_crossentropy")
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=int(epochs), batch_size=int(batch_size),
              shuffle=True, verbose=0,
              callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)])
    return embedder
