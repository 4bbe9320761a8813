"""Kernel Inception Distance (Bińkowski et al., 2018) on any features, here the judges' embeddings.

KID is the squared MMD between two feature sets under the cubic polynomial kernel
k(x, y) = (x·y / d + 1)^3. Unlike FID its estimator is unbiased, so it is meaningful at the few
thousand samples a CPU can afford, and two samples of one distribution score about 0 (possibly
slightly negative). Averaging over random subsets gives a mean and a spread.
"""

from __future__ import annotations

import numpy as np


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x·y / d + 1)^3 for all pairs of rows: [n, d] x [m, d] -> [n, m]."""
    k = x @ y.T / x.shape[1] + 1.0
    return k * k * k  # three times faster than `** 3`, which numpy sends through pow()


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 of two equal-size samples: within-set means skip the diagonal (i == j) terms."""
    m = x.shape[0]
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.mean())


def kid(feats_a: np.ndarray, feats_b: np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """(mean, std) of unbiased MMD^2 over `subsets` random subsets of `subset_size` rows from each set.

    `subset_size` is capped at the smaller set; subsets are drawn without replacement, reproducibly
    from `seed`. Computed in float64.
    """
    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be [N, d] with the same d, got {a.shape} and {b.shape}")
    m = min(subset_size, a.shape[0], b.shape[0])
    if m < 2 or subsets < 1:
        raise ValueError("KID needs at least 2 rows in each set and at least one subset")
    rng = np.random.default_rng(seed)
    values = np.array([mmd2_unbiased(a[rng.choice(a.shape[0], m, replace=False)],
                                     b[rng.choice(b.shape[0], m, replace=False)]) for _ in range(subsets)])
    return float(values.mean()), float(values.std())
