"""LogME: the log maximum evidence of a Bayesian linear model from features to one-hot labels."""
from __future__ import annotations

import numpy as np

from ._check import features_and_labels


def log_evidence(features: np.ndarray, target: np.ndarray, alpha: float, beta: float) -> float:
    """log p(y | F, alpha, beta) of Bayesian linear regression y = F w + noise, w ~ N(0, alpha^-1 I),
    noise ~ N(0, beta^-1 I) (You et al., ICML 2021, eq. 2), written out with explicit matrices:

        L = n/2 log beta + D/2 log alpha - n/2 log 2pi - beta/2 ||F m - y||^2 - alpha/2 m'm - 1/2 log|A|,
        A = alpha I + beta F'F,  m = beta A^-1 F'y.

    Slow (D x D inverse); the reference the fast path in `logme` is tested against."""
    f = np.asarray(features, np.float64)
    y = np.asarray(target, np.float64)
    n, d = f.shape
    a = alpha * np.eye(d) + beta * f.T @ f
    m = beta * np.linalg.solve(a, f.T @ y)
    residual = float(np.sum((f @ m - y) ** 2))
    return float(n / 2 * np.log(beta) + d / 2 * np.log(alpha) - n / 2 * np.log(2 * np.pi) - beta / 2 * residual
                 - alpha / 2 * float(m @ m) - 0.5 * np.linalg.slogdet(a)[1])


def _maximise(s2: np.ndarray, z: np.ndarray, y_outside: float, n: int, d: int,
              iterations: int = 100, tol: float = 1e-6) -> tuple[float, float, float]:
    """MacKay's fixed point for (alpha, beta) in the SVD basis (You et al., Algorithm 1).

    s2: squared singular values of F; z = U'y; y_outside = ||y||^2 - ||z||^2 (the part of y F cannot reach).
    Returns (evidence / n, alpha, beta)."""
    alpha, beta = 1.0, 1.0
    for _ in range(iterations):
        shrink = beta * s2 / (alpha + beta * s2)
        gamma = float(shrink.sum())
        m2 = float(np.sum(beta**2 * s2 * z**2 / (alpha + beta * s2) ** 2))  # ||m||^2
        residual = float(np.sum((z * (1 - shrink)) ** 2)) + y_outside  # ||F m - y||^2
        new_alpha = gamma / max(m2, 1e-12)
        new_beta = (n - gamma) / max(residual, 1e-12)
        done = abs(new_alpha - alpha) / alpha < tol and abs(new_beta - beta) / beta < tol
        alpha, beta = new_alpha, new_beta
        if done:
            break
    shrink = beta * s2 / (alpha + beta * s2)
    m2 = float(np.sum(beta**2 * s2 * z**2 / (alpha + beta * s2) ** 2))
    residual = float(np.sum((z * (1 - shrink)) ** 2)) + y_outside
    log_det = float(np.sum(np.log(alpha + beta * s2))) + (d - len(s2)) * np.log(alpha)
    evidence = (n / 2 * np.log(beta) + d / 2 * np.log(alpha) - n / 2 * np.log(2 * np.pi) - beta / 2 * residual
                - alpha / 2 * m2 - 0.5 * log_det)
    return evidence / n, alpha, beta


def label_projections(f: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(U'y, s^2): the columns of y in the basis of F's left singular vectors U (thin SVD, directions with
    s > 0), and the squared singular values. With more images than features, through the eigendecomposition of
    the small d x d matrix F'F, as LogME's reference code does (several times faster than the SVD of the n x d
    matrix, the same up to rounding), and U'y = V'(F'y) / s, so the n x d matrix U is never formed."""
    if f.shape[0] <= f.shape[1]:
        u, s, _ = np.linalg.svd(f, full_matrices=False)
        return u.T @ y, s**2
    s2, v = np.linalg.eigh(f.T @ f)
    live = s2 > max(float(s2.max()), 1e-300) * 1e-12
    s2, v = s2[live], v[:, live]
    return (v.T @ (f.T @ y)) / np.sqrt(s2)[:, None], s2


def logme(features, labels) -> float:
    """LogME (You, Liu, Wang, Long: "LogME: Practical Assessment of Pre-trained Models for Transfer Learning",
    ICML 2021).

    For every class c, y_c is the one-hot column of c; alpha and beta maximise the evidence L(alpha, beta)
    (see `log_evidence`) by the fixed point gamma = sum_i beta s_i^2 / (alpha + beta s_i^2),
    alpha = gamma / m'm, beta = (n - gamma) / ||F m - y||^2, computed once per dataset through the SVD of F.

        LogME = 1/C sum_c L_c(alpha_c*, beta_c*) / n.   Higher: a linear model explains the labels better.
    """
    f, codes, classes = features_and_labels(features, labels)
    n, d = f.shape
    one_hot = np.eye(len(classes))[codes]
    projections, s2 = label_projections(f, one_hot)
    total = 0.0
    for c in range(len(classes)):
        y, z = one_hot[:, c], projections[:, c]
        total += _maximise(s2, z, max(float(y @ y - z @ z), 0.0), n, d)[0]
    return float(total / len(classes))
