"""KID: about 0 for one distribution, clearly positive for shifted features, and unbiased."""

from __future__ import annotations

import numpy as np
import pytest

from ganlab.eval.kid import kid, mmd2_unbiased, polynomial_kernel


def gaussian(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)) + shift


def test_kernel_is_the_cubic_polynomial_scaled_by_dimension():
    x = np.array([[1.0, 2.0]])
    y = np.array([[3.0, -1.0], [0.0, 0.0]])
    np.testing.assert_allclose(polynomial_kernel(x, y), [[(1.0 / 2 + 1) ** 3, 1.0]])


def test_hand_computed_toy_case():
    # d = 1: k(x, y) = (xy + 1)^3. Within X: k(0, 1) = 1; within Y: k(2, 3) = 343;
    # across: k(0, 2) = k(0, 3) = 1, k(1, 2) = 27, k(1, 3) = 64, mean 93 / 4. MMD^2 = 1 + 343 - 2 * 23.25.
    x, y = np.array([[0.0], [1.0]]), np.array([[2.0], [3.0]])
    assert mmd2_unbiased(x, y) == pytest.approx(297.5)
    assert kid(x, y, subsets=5, subset_size=2) == pytest.approx((297.5, 0.0))


def test_symmetric():
    a, b = gaussian(300, 16, 1), gaussian(300, 16, 2, shift=0.3)
    assert mmd2_unbiased(a, b) == pytest.approx(mmd2_unbiased(b, a), rel=1e-12)
    assert kid(a, b, subsets=3, subset_size=300) == pytest.approx(kid(b, a, subsets=3, subset_size=300), rel=1e-12)


def test_same_distribution_is_about_zero_and_shifted_is_clearly_positive():
    a, b = gaussian(2000, 64, 1), gaussian(2000, 64, 2)
    same_mean, same_std = kid(a, b, subsets=20, subset_size=500)
    shifted_mean, shifted_std = kid(a, gaussian(2000, 64, 3, shift=0.5), subsets=20, subset_size=500)
    assert abs(same_mean) < 0.02
    assert shifted_mean > 50 * max(abs(same_mean), same_std)
    assert shifted_mean > 10 * shifted_std


def test_unbiased_on_small_samples_where_the_biased_estimate_is_far_off():
    # 1-D, X ~ N(0, 1), Y ~ N(mu, 1): with k = 1 + 3xy + 3x^2y^2 + x^3y^3 the population MMD^2 is
    # 3 (mu_1 diff)^2 + 3 (mu_2 diff)^2 + (mu_3 diff)^2 = 3 mu^2 + 3 mu^4 + (mu^3 + 3 mu)^2.
    mu, m, draws = 0.5, 8, 20_000
    truth = 3 * mu**2 + 3 * mu**4 + (mu**3 + 3 * mu) ** 2
    rng = np.random.default_rng(0)
    unbiased, biased = [], []
    for _ in range(draws):
        x, y = rng.standard_normal((m, 1)), rng.standard_normal((m, 1)) + mu
        unbiased.append(mmd2_unbiased(x, y))
        biased.append(polynomial_kernel(x, x).mean() + polynomial_kernel(y, y).mean()
                      - 2 * polynomial_kernel(x, y).mean())
    stderr = np.std(unbiased) / np.sqrt(draws)
    assert abs(np.mean(unbiased) - truth) < 4 * stderr
    assert abs(np.mean(biased) - truth) > 10 * stderr


def test_subset_size_is_capped_and_bad_input_rejected():
    a, b = gaussian(50, 4, 1), gaussian(80, 4, 2)
    assert kid(a, b, subsets=2, subset_size=1000)[1] >= 0.0
    with pytest.raises(ValueError):
        kid(a, gaussian(50, 5, 3))
    with pytest.raises(ValueError):
        kid(a[:1], b)
