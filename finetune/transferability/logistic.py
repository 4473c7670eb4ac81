"""The few-shot classifier of the benchmark's ground truth, and its seeded support sets: the benchmark's episodes
(finetune/fewshot/episodes.py) and the few-shot probe score (probe.py) both call these, so the probe runs the
ground truth's own classifier. Pure numpy and scipy.
"""
from __future__ import annotations

import numpy as np
from scipy.special import log_softmax, softmax


def draw_supports(labels, k: int, episodes: int, seed: int) -> list[np.ndarray]:
    """`episodes` support sets: for every class, min(k, class size) indices, seeded by (seed, k, episode).

    They depend only on the labels, never on the network, which is what pairs a comparison of networks."""
    labels = np.asarray(labels)
    members = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    drawn = []
    for e in range(int(episodes)):
        rng = np.random.default_rng([int(seed), int(k), e])
        drawn.append(np.sort(np.concatenate([rng.choice(m, min(int(k), len(m)), replace=False) for m in members])))
    return drawn


def _support_basis(support: np.ndarray):
    """(standardised support x, mean, std, support coordinates, basis U or None): the support set standardised
    with its own statistics, and its coordinates x U in an orthonormal basis U of the span of its rows (n
    coordinates instead of d features). With at least as many support images as features (n >= d: a target of
    many classes) the span is no smaller than the features: the standardised features themselves, U None."""
    x = np.asarray(support, np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std < 1e-12] = 1.0
    x = (x - mean) / std
    if x.shape[0] >= x.shape[1]:
        return x, mean, std, x, None
    eigenvalues, v = np.linalg.eigh(x @ x.T)  # far cheaper than an SVD of the wide (n, d) matrix
    root = np.sqrt(np.clip(eigenvalues, 0, None))
    live = root > root.max() * 1e-6
    inverse = np.where(live, 1.0 / np.where(live, root, 1.0), 0.0)
    return x, mean, std, v * np.where(live, root, 0.0), v * inverse


def _span_coordinates(support: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardise with the support set's statistics, then express both in an orthonormal basis of the span of
    the standardised support images (`_support_basis`).

    The L2-penalised optimum W lies in that span (representer theorem), so the logistic regression solved in
    these coordinates is the same classifier as the one solved on all d features."""
    x, mean, std, coordinates, basis = _support_basis(support)
    q = (np.asarray(query, np.float64) - mean) / std
    return (coordinates, q) if basis is None else (coordinates, (q @ x.T) @ basis)


def span_projector(support: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_span_coordinates` regrouped so that one matrix product projects any queries: (support coordinates, P
    (d, n'), o (n',)), the coordinates of queries Q being Q P - o, since ((Q - mean) / std) x^T U = Q P - mean P
    with P = (x / std)^T U (diag(1 / std) when U is None). The regrouping moves the coordinates by rounding
    only. The few-shot probe projects its whole pool onto many episodes' bases in one product this way."""
    x, mean, std, coordinates, basis = _support_basis(support)
    projector = np.diag(1.0 / std) if basis is None else (x / std).T @ basis
    return coordinates, projector, mean @ projector


def _objective(x: np.ndarray, one_hot: np.ndarray, c: float, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched c * sum_i CE(softmax(x_i W + b), y_i) + 1/2 ||W||^2 and its gradient; theta (B, d*C + C)."""
    batch, n, d = x.shape
    n_classes = one_hot.shape[1]
    w = theta[:, : d * n_classes].reshape(batch, d, n_classes)
    bias = theta[:, d * n_classes :]
    log_p = log_softmax(x @ w + bias[:, None, :], axis=2)
    residual = c * (np.exp(log_p) - one_hot)
    loss = -c * np.einsum("nc,bnc->b", one_hot, log_p) + 0.5 * np.einsum("bdc,bdc->b", w, w)
    grad_w = np.swapaxes(x, 1, 2) @ residual + w
    return loss, np.concatenate([grad_w.reshape(batch, -1), residual.sum(axis=1)], axis=1)


def _rows_objective(x: np.ndarray, one_hot: np.ndarray, c: float):
    """`_objective` of some of the batch's problems: fun(theta_rows, rows). The rows' slice of x is kept while
    the same rows come back (most calls), so it is copied only when the set of unfinished problems shrinks."""
    kept: dict = {}

    def fun(theta: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(rows) == len(x):
            return _objective(x, one_hot, c, theta)
        key = rows.tobytes()
        if key not in kept:
            kept.clear()
            kept[key] = x[rows]
        return _objective(kept[key], one_hot, c, theta)

    return fun


def _lbfgs(fun, theta: np.ndarray, memory: int = 10, max_iter: int = 500, gtol: float = 1e-5) -> np.ndarray:
    """L-BFGS with a backtracking (Armijo) line search, run on a batch of independent problems at once (one
    row of `theta` each): the two-loop recursion of Nocedal & Wright, Algorithm 7.4, vectorised over rows.

    fun(theta_rows, rows) -> (loss, gradient) of the problems `rows`. Only problems still moving are evaluated:
    a finished one, or one whose step is already accepted, would give back the values it has (every row's
    arithmetic is that of a lone problem), so skipping them changes no result and saves most of the work when
    a few problems converge late."""
    f, g = fun(theta, np.arange(len(theta)))
    history: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    active = np.abs(g).max(axis=1) > gtol
    for _ in range(int(max_iter)):
        if not active.any():
            break
        q = g.copy()
        alphas = []
        for s, y, rho in reversed(history):
            a = rho * np.einsum("bp,bp->b", s, q)
            q -= a[:, None] * y
            alphas.append(a)
        if history:
            s, y, _ = history[-1]
            q *= (np.einsum("bp,bp->b", s, y) / np.maximum(np.einsum("bp,bp->b", y, y), 1e-300))[:, None]
        else:
            q /= np.maximum(np.linalg.norm(g, axis=1), 1e-300)[:, None]
        for (s, y, rho), a in zip(history, reversed(alphas)):
            q += s * (a - rho * np.einsum("bp,bp->b", y, q))[:, None]
        direction = -q
        slope = np.einsum("bp,bp->b", g, direction)
        uphill = slope >= 0
        direction[uphill] = -g[uphill]  # a stale curvature pair: fall back to steepest descent
        slope[uphill] = -np.einsum("bp,bp->b", g[uphill], g[uphill])
        direction[~active] = 0.0
        step = np.ones(len(theta))
        f_new, g_new = f.copy(), g.copy()
        pending = active
        for _ in range(40):
            rows = np.flatnonzero(pending)
            f_new[rows], g_new[rows] = fun(theta[rows] + step[rows, None] * direction[rows], rows)
            bad = pending & ~(f_new <= f + 1e-4 * step * slope)
            if not bad.any():
                break
            step[bad] *= 0.5
            pending = bad
        s = step[:, None] * direction
        y = g_new - g
        sy = np.einsum("bp,bp->b", s, y)
        theta, f, g = theta + s, f_new, g_new
        rho = np.where(sy > 1e-12, 1.0 / np.where(sy > 1e-12, sy, 1.0), 0.0)  # skip pairs without curvature
        history = (history + [(s, y, rho)])[-int(memory):]
        active &= np.abs(g).max(axis=1) > gtol
    return theta


def logistic_probabilities(supports: np.ndarray, support_labels: np.ndarray, queries: np.ndarray,
                           c: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Per network b: standardise features with the support set's statistics, fit an L2 multinomial logistic
    regression on supports[b] (scikit-learn's objective, c * sum of cross-entropies + 1/2 ||W||^2), and return
    (class values, class probabilities of queries[b]). supports (B, n, d), queries (B, m, d): the same images
    seen by B networks; probabilities (B, m, C). 2-D `supports` / `queries` are one network (m, C)."""
    single = np.ndim(supports) == 2
    supports, queries = (np.asarray(a)[None] for a in (supports, queries)) if single else (supports, queries)
    classes, y = np.unique(support_labels, return_inverse=True)
    coordinates = [_span_coordinates(s, q) for s, q in zip(supports, queries)]
    probabilities = fit_in_span(np.stack([a for a, _ in coordinates]), y, np.stack([b for _, b in coordinates]),
                                len(classes), c)
    return classes, probabilities[0] if single else probabilities


def fit_in_span(x: np.ndarray, y: np.ndarray, q: np.ndarray, n_classes: int, c: float = 1.0) -> np.ndarray:
    """The logistic regression of `logistic_probabilities` fitted on support coordinates x (B, n, n') with class
    codes y (n,), and the class probabilities (B, m, C) of the query coordinates q (B, m, n')."""
    batch, n, d = x.shape
    one_hot = np.eye(n_classes)[y]
    theta = _lbfgs(_rows_objective(x, one_hot, float(c)), np.zeros((batch, d * n_classes + n_classes)))
    w = theta[:, : d * n_classes].reshape(batch, d, n_classes)
    return softmax(q @ w + theta[:, None, d * n_classes :], axis=2)


def logistic_predict(supports: np.ndarray, support_labels: np.ndarray, queries: np.ndarray,
                     c: float = 1.0) -> np.ndarray:
    """The most probable class of each query under `logistic_probabilities`: (B, m), or (m,) for one network."""
    classes, probabilities = logistic_probabilities(supports, support_labels, queries, c)
    return classes[np.argmax(probabilities, axis=-1)]
