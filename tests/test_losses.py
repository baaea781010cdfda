"""The adversarial losses equal their textbook formulas on known logits."""

import jax
import numpy as np
import pytest

from jaxgan import losses

REAL = np.array([-3.0, -0.5, 0.0, 0.7, 4.0], np.float32)
FAKE = np.array([-2.0, 0.1, 0.3, 1.5, -6.0], np.float32)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def test_minimax_value_and_generator_losses_match_their_formulas():
    d_real, d_fake = sigmoid(REAL), sigmoid(FAKE)
    value = np.mean(np.log(d_real)) + np.mean(np.log(1 - d_fake))  # V(D, G) of the minimax game.
    d_loss, g_minimax = losses.LOSSES["minimax"]
    np.testing.assert_allclose(d_loss(REAL, FAKE), -value, rtol=1e-6)
    np.testing.assert_allclose(g_minimax(FAKE), np.mean(np.log(1 - d_fake)), rtol=1e-6)
    _, g_ns = losses.LOSSES["non_saturating"]
    np.testing.assert_allclose(g_ns(FAKE), -np.mean(np.log(d_fake)), rtol=1e-6)


def test_bce_losses_stay_finite_for_extreme_logits():
    real, fake = np.array([-200.0, 200.0], np.float32), np.array([200.0, -200.0], np.float32)
    for name in ("minimax", "non_saturating"):
        d_loss, g_loss = losses.LOSSES[name]
        assert np.isfinite(d_loss(real, fake)) and np.isfinite(g_loss(fake))
        assert np.all(np.isfinite(jax.grad(g_loss)(fake)))


def test_saturating_loss_saturates_where_non_saturating_does_not():
    # When D confidently rejects a sample (logit -10), the minimax G gradient vanishes.
    fake = np.array([-10.0], np.float32)
    g_minimax = jax.grad(losses.LOSSES["minimax"][1])(fake)
    g_ns = jax.grad(losses.LOSSES["non_saturating"][1])(fake)
    assert abs(g_minimax[0]) < 1e-4 < 0.9 < abs(g_ns[0])


@pytest.mark.parametrize(
    "name, d_expected, g_expected",
    [
        ("wasserstein", np.mean(FAKE) - np.mean(REAL), -np.mean(FAKE)),
        (
            "least_squares",
            0.5 * np.mean((REAL - 1) ** 2) + 0.5 * np.mean(FAKE**2),
            0.5 * np.mean((FAKE - 1) ** 2),
        ),
        (
            "hinge",
            np.mean(np.maximum(0, 1 - REAL)) + np.mean(np.maximum(0, 1 + FAKE)),
            -np.mean(FAKE),
        ),
    ],
)
def test_other_losses_match_their_formulas(name, d_expected, g_expected):
    d_loss, g_loss = losses.LOSSES[name]
    np.testing.assert_allclose(d_loss(REAL, FAKE), d_expected, rtol=1e-6)
    np.testing.assert_allclose(g_loss(FAKE), g_expected, rtol=1e-6)


def test_relativistic_losses_match_their_formulas():
    """RpGAN pairs rows; RaGAN compares each sample with the other side's mean logit."""
    log_sigmoid = lambda v: -np.log1p(np.exp(-v))
    d_loss, g_loss = losses.LOSSES["relativistic"]
    np.testing.assert_allclose(d_loss(REAL, FAKE), -np.mean(log_sigmoid(REAL - FAKE)), rtol=1e-6)
    np.testing.assert_allclose(g_loss(FAKE, REAL), -np.mean(log_sigmoid(FAKE - REAL)), rtol=1e-6)
    d_loss, g_loss = losses.LOSSES["relativistic_average"]
    want_d = -np.mean(log_sigmoid(REAL - FAKE.mean())) - np.mean(
        np.log1p(-1 / (1 + np.exp(-(FAKE - REAL.mean()))))
    )
    want_g = -np.mean(log_sigmoid(FAKE - REAL.mean())) - np.mean(
        np.log1p(-1 / (1 + np.exp(-(REAL - FAKE.mean()))))
    )
    np.testing.assert_allclose(d_loss(REAL, FAKE), want_d, rtol=1e-5)
    np.testing.assert_allclose(g_loss(FAKE, REAL), want_g, rtol=1e-5)
    # Shifting every logit by the same constant changes nothing: only differences count.
    np.testing.assert_allclose(d_loss(REAL + 3.0, FAKE + 3.0), want_d, rtol=1e-5)
