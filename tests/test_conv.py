import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from revsnn_jax.nn.conv import conv2d, conv_replay
from revsnn_jax.remat import remat


@pytest.mark.parametrize("size", [8, 7])
@pytest.mark.parametrize("kernel,stride,padding", [
    (3, 1, "SAME"), (3, 2, "SAME"), (1, 2, "SAME"), (1, 2, "VALID"), (3, 2, "VALID"), (3, 1, ((1, 1), (1, 1))),
    (3, 1, ((0, 2), (1, 0)))])
def test_conv2d_values_and_gradients_match_lax(x64, size, kernel, stride, padding):
    kx, kw, kg = jax.random.split(jax.random.key(size), 3)
    x = jax.random.normal(kx, (2, size, size, 3), jnp.float64)
    w = jax.random.normal(kw, (kernel, kernel, 3, 5), jnp.float64)
    ours = lambda x, w: conv2d(x, w, (stride, stride), padding)  # noqa: E731
    ref = lambda x, w: lax.conv_general_dilated(x, w, (stride, stride), padding,  # noqa: E731
                                                dimension_numbers=("NHWC", "HWIO", "NHWC"))
    y, vjp = jax.vjp(ours, x, w)
    y_ref, vjp_ref = jax.vjp(ref, x, w)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    g = jax.random.normal(kg, y.shape, jnp.float64)
    for a, b in zip(vjp(g), vjp_ref(g)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_replay_returns_the_record_with_the_convolutions_gradients(x64, stride):
    kx, kw, kg = jax.random.split(jax.random.key(stride), 3)
    x = jax.random.normal(kx, (2, 7, 7, 3), jnp.float64)
    w = jax.random.normal(kw, (3, 3, 3, 4), jnp.float64)
    g = jax.random.normal(kg, conv2d(x, w, (stride, stride), "SAME").shape, jnp.float64)
    y, vjp = jax.vjp(lambda x, w: conv2d(x, w, (stride, stride), "SAME"), x, w)
    record = y + 0.0
    z, vjp_replay = jax.vjp(lambda x, w, h: conv_replay(x, w, h, stride, "SAME"), x, w, record)
    np.testing.assert_array_equal(z, record)
    gx, gw = vjp(g)
    rx, rw, rh = vjp_replay(g)
    np.testing.assert_allclose(rx, gx, rtol=1e-12)
    np.testing.assert_allclose(rw, gw, rtol=1e-12)
    assert not np.any(rh)
    with pytest.raises(ValueError, match="recorded conv output has shape"):
        conv_replay(x, w, record[:, :2], stride, "SAME")


def test_conv2d_falls_back_for_dilation():
    x, w = jnp.ones((1, 9, 9, 2)), jnp.ones((3, 3, 2, 4))
    y = conv2d(x, w, (1, 1), "SAME", rhs_dilation=(2, 2), dimension_numbers=("NHWC", "HWIO", "NHWC"))
    y_ref = lax.conv_general_dilated(x, w, (1, 1), "SAME", rhs_dilation=(2, 2),
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_array_equal(y, y_ref)


def test_remat_gives_the_same_gradient(x64):
    f = lambda a, b: (jnp.sin(a) * b, jnp.sum(a * a))  # noqa: E731
    a, b = jnp.linspace(0.0, 1.0, 5), jnp.linspace(1.0, 2.0, 5)
    loss = lambda f: lambda a, b: jnp.sum(f(a, b)[0] ** 2) + f(a, b)[1]  # noqa: E731
    got = jax.grad(loss(remat(f)), (0, 1))(a, b)
    ref = jax.grad(loss(f), (0, 1))(a, b)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-14)
