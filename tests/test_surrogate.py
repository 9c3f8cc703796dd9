import jax
import jax.numpy as jnp
import numpy as np
import pytest

from revsnn_jax.surrogate import SURROGATES, spike, surrogate_grad


@pytest.mark.parametrize("name", SURROGATES)
def test_spike_forward_is_heaviside_and_backward_is_surrogate(name):
    z = jnp.linspace(-2.0, 2.0, 41)
    np.testing.assert_array_equal(spike(z, name, 2.0), (z >= 0).astype(z.dtype))
    g = jax.jit(jax.vmap(jax.grad(lambda z: spike(z, name, 2.0))))(z)
    np.testing.assert_allclose(g, surrogate_grad(z, name, 2.0), rtol=1e-6)


def test_surrogate_formulas_and_integrals():
    theta = 2.0
    z = np.linspace(-400.0, 400.0, 2_000_001)
    dz = z[1] - z[0]
    paper = theta / (2 + (np.pi * theta * z) ** 2)
    atan = (theta / 2) / (1 + (np.pi * theta * z / 2) ** 2)
    np.testing.assert_allclose(surrogate_grad(jnp.asarray(z[:5]), "paper", theta), paper[:5], rtol=1e-6)
    np.testing.assert_allclose(surrogate_grad(jnp.asarray(z[:5]), "atan", theta), atan[:5], rtol=1e-6)
    # The paper's form integrates to 1/sqrt(2), ATan and sigmoid to 1; both arctan forms peak at theta/2.
    assert abs(paper.sum() * dz - 1 / np.sqrt(2)) < 2e-3
    assert abs(atan.sum() * dz - 1) < 2e-3
    sig = np.asarray(surrogate_grad(jnp.linspace(-40.0, 40.0, 80001), "sigmoid", theta))
    assert abs(sig.sum() * 1e-3 - 1) < 1e-3
    assert float(surrogate_grad(jnp.float32(0), "paper", theta)) == pytest.approx(theta / 2)
    assert float(surrogate_grad(jnp.float32(0), "atan", theta)) == pytest.approx(theta / 2)


def test_unknown_surrogate_raises():
    with pytest.raises(ValueError, match="unknown surrogate 'relu'.*paper, atan, sigmoid"):
        surrogate_grad(jnp.zeros(3), "relu", 2.0)
