"""The neuron math: forward against a literal transcription of Eq. 1-6, the inverse (Eq. 7-10), the closed-form
VJP against autodiff and finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from revsnn_jax import LIFParams, RevLIFParams, lif_step, rev_lif_inverse, rev_lif_step, rev_lif_step_vjp
from revsnn_jax import neurons


def literal_two_groups(x, v, tau=2.0, vth=1.0, vres=0.0, a=0.15, b=1.0):
    """Eq. 1-6 typed out for two groups, independent of the library's group loop."""
    H = lambda z: (z >= 0).astype(z.dtype)  # noqa: E731
    x1, x2 = np.split(x, 2, -1)
    v1, v2 = np.split(v, 2, -1)
    m1 = v1 + (x1 - v1) / tau
    y1 = H(m1 - vth) + b * x2
    v1n = (1 - y1) * m1 + y1 * vres + a * v1
    m2 = v2 + (y1 - v2) / tau
    y2 = H(m2 - vth) + b * x1
    v2n = (1 - y2) * m2 + y2 * vres + a * v2
    return np.concatenate([y1, y2], -1), np.concatenate([v1n, v2n], -1)


def literal_three_groups(x, v, tau=2.0, vth=1.0, vres=0.0, a=0.15, b=1.0):
    """The cyclic chain for n=3: group 2 integrates Y1, group 3 integrates Y2, Y3 carries X1."""
    H = lambda z: (z >= 0).astype(z.dtype)  # noqa: E731
    x1, x2, x3 = np.split(x, 3, -1)
    v1, v2, v3 = np.split(v, 3, -1)
    m1 = v1 + (x1 - v1) / tau
    y1 = H(m1 - vth) + b * x2
    m2 = v2 + (y1 - v2) / tau
    y2 = H(m2 - vth) + b * x3
    m3 = v3 + (y2 - v3) / tau
    y3 = H(m3 - vth) + b * x1
    vn = [(1 - y) * m + y * vres + a * vv for y, m, vv in ((y1, m1, v1), (y2, m2, v2), (y3, m3, v3))]
    return np.concatenate([y1, y2, y3], -1), np.concatenate(vn, -1)


def random_state(seed, shape, dtype, scale=1.0):
    kx, kv = jax.random.split(jax.random.key(seed))
    return scale * jax.random.normal(kx, shape, dtype), 0.5 * jax.random.normal(kv, shape, dtype)


@pytest.mark.parametrize("literal,groups", [(literal_two_groups, 2), (literal_three_groups, 3)])
def test_forward_matches_literal_equations(x64, literal, groups):
    p = RevLIFParams(groups=groups, alpha=0.2, beta=0.7, tau=3.0, v_reset=-0.1)
    x, v = random_state(0, (5, 6 * groups), jnp.float64, 1.5)
    y, vn = jax.jit(rev_lif_step)(p, x, v)
    y_ref, vn_ref = literal(np.asarray(x), np.asarray(v), tau=3.0, vres=-0.1, a=0.2, b=0.7)
    np.testing.assert_allclose(y, y_ref, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(vn, vn_ref, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("groups", [2, 3, 4])
@pytest.mark.parametrize("scale", [0.1, 1.0, 3.0])
def test_inverse_round_trip_float64(x64, groups, scale):
    """The paper's own check: one step forward, one step back, allclose(rtol=1e-6, atol=1e-10)."""
    p = RevLIFParams(groups=groups)
    x, v = random_state(groups, (64, 12 * groups), jnp.float64, scale)
    x_rec, v_rec = jax.jit(lambda y, vn: rev_lif_inverse(p, y, vn))(*rev_lif_step(p, x, v))
    np.testing.assert_allclose(x_rec, x, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(v_rec, v, rtol=1e-6, atol=1e-10)


def test_inverse_with_spikes_gives_exact_inputs_float32():
    """With the stored spikes X = (Y - S)/beta: off by at most half an ulp of Y (|Y| < 8 here)."""
    p = RevLIFParams()
    x, v = random_state(1, (256, 64), jnp.float32)
    f = neurons.rev_forward_groups(p, neurons.split_groups(p, x), neurons.split_groups(p, v))
    s = neurons.merge_groups(f.s)
    x_rec, _ = rev_lif_inverse(p, *rev_lif_step(p, x, v), spikes=s)
    assert float(jnp.max(jnp.abs(x_rec - x))) <= 8 * 2.0**-24


@pytest.mark.parametrize("groups", [2, 3, 4, 12])   # 12 > SCAN_GROUPS_ABOVE: the chain of groups is a scan
def test_closed_form_vjp_matches_autodiff(x64, groups):
    p = RevLIFParams(groups=groups, alpha=0.3, beta=0.8, surrogate="atan")
    x, v = random_state(3, (32, 8 * groups), jnp.float64, 1.0)
    gy, gv = random_state(4, x.shape, jnp.float64)
    ref = jax.vjp(lambda x, v: rev_lif_step(p, x, v), x, v)[1]((gy, gv))
    got = jax.jit(lambda *a: rev_lif_step_vjp(p, *a))(x, v, gy, gv)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)


def test_many_groups_scan_equals_the_unrolled_chain(x64):
    """Above SCAN_GROUPS_ABOVE groups the chain runs as a scan over stacked groups: same values, same gradients
    (autodiff and closed form) as the unrolled chain of Eq. 1-6, and the layer's closed-form custom_vjp too."""
    groups = 2 * neurons.SCAN_GROUPS_ABOVE
    p = RevLIFParams(groups=groups, alpha=0.2, beta=0.7, tau=3.0, v_reset=-0.1)
    x, v = random_state(7, (3, 4, 2 * groups), jnp.float64, 1.5)
    gy, gv = random_state(8, x.shape, jnp.float64)

    def unrolled(x, v):
        f = neurons.rev_forward_groups(p, neurons.split_groups(p, x), neurons.split_groups(p, v))
        return neurons.merge_groups(f.y), neurons.merge_groups(f.v_next)

    np.testing.assert_array_equal(neurons.stack_groups(p, x)[1], x[..., 2:4])    # group k = channels 2k, 2k+1
    np.testing.assert_array_equal(neurons.unstack_groups(neurons.stack_groups(p, x)), x)
    ref_out, ref_vjp = jax.vjp(unrolled, x, v)
    ref = ref_vjp((gy, gv))
    for step in (rev_lif_step, lambda p, x, v: neurons.closed_form(p, None, x, v)):
        out, vjp = jax.vjp(jax.jit(lambda x, v, step=step: step(p, x, v)), x, v)
        for got, want in zip(out + vjp((gy, gv)), ref_out + ref):
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


def test_closed_form_vjp_matches_finite_differences_on_smooth_spike(x64):
    """Replace H by a smooth sigmoid whose derivative is the 'sigmoid' surrogate, then check by differences."""
    p = RevLIFParams(groups=3, surrogate="sigmoid", surrogate_width=3.0)
    smooth = lambda z: jax.nn.sigmoid(3.0 * z)  # noqa: E731
    x, v = random_state(5, (4, 9), jnp.float64)
    gy, gv = random_state(6, x.shape, jnp.float64)

    def forward(x, v):
        f = neurons.rev_forward_groups(p, neurons.split_groups(p, x), neurons.split_groups(p, v), smooth)
        return f

    def objective(x, v):
        f = forward(x, v)
        return jnp.sum(neurons.merge_groups(f.y) * gy) + jnp.sum(neurons.merge_groups(f.v_next) * gv)

    f = forward(x, v)
    gx, gvp = neurons.rev_vjp_groups(p, f.m, f.y, neurons.split_groups(p, gy), neurons.split_groups(p, gv))
    gx, gvp = neurons.merge_groups(gx), neurons.merge_groups(gvp)
    eps = 1e-6
    for arr, grad, which in ((x, gx, 0), (v, gvp, 1)):
        flat = np.asarray(arr).ravel()
        for i in range(0, flat.size, 5):
            d = np.zeros_like(flat)
            d[i] = eps
            plus = [x, v]
            minus = [x, v]
            plus[which] = jnp.asarray((flat + d).reshape(arr.shape))
            minus[which] = jnp.asarray((flat - d).reshape(arr.shape))
            fd = (objective(*plus) - objective(*minus)) / (2 * eps)
            assert float(fd) == pytest.approx(float(np.asarray(grad).ravel()[i]), rel=1e-6, abs=1e-8)


def test_lif_step_hard_reset():
    p = LIFParams(tau=2.0, v_threshold=1.0, v_reset=0.0)
    x = jnp.array([[0.5, 2.0, 3.0]])
    v = jnp.array([[0.0, 0.0, 1.0]])
    s, vn = lif_step(p, x, v)
    np.testing.assert_array_equal(s, [[0.0, 1.0, 1.0]])
    np.testing.assert_allclose(vn, [[0.25, 0.0, 0.0]])


@pytest.mark.parametrize("make,message", [
    (lambda: RevLIFParams(groups=1), "groups must be an integer >= 2"),
    (lambda: RevLIFParams(groups=2.0), "groups must be an integer >= 2"),
    (lambda: RevLIFParams(beta=0.0), "beta must be non-zero"),
    (lambda: RevLIFParams(tau=0.0), "tau must be > 0"),
    (lambda: RevLIFParams(surrogate="relu"), "unknown surrogate 'relu'"),
    (lambda: LIFParams(surrogate_width=0.0), "surrogate_width must be a finite number > 0"),
])
def test_bad_params_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_arrays_raise():
    p = RevLIFParams(groups=3)
    with pytest.raises(ValueError, match=r"groups=3 does not divide the last axis \(64\)"):
        rev_lif_step(p, jnp.zeros((2, 64)), jnp.zeros((2, 64)))
    with pytest.raises(ValueError, match="same shape"):
        rev_lif_step(RevLIFParams(), jnp.zeros((2, 4)), jnp.zeros((3, 4)))
    with pytest.raises(ValueError, match="floating dtype"):
        rev_lif_step(RevLIFParams(), jnp.zeros((2, 4), jnp.int32), jnp.zeros((2, 4), jnp.int32))
    with pytest.raises(ValueError, match="same dtype"):
        lif_step(LIFParams(), jnp.zeros((2, 4), jnp.float32), jnp.zeros((2, 4), jnp.bfloat16))
    with pytest.raises(ValueError, match="spikes must have the shape of y"):
        rev_lif_inverse(RevLIFParams(), jnp.zeros((2, 4)), jnp.zeros((2, 4)), spikes=jnp.zeros((2, 2)))


def test_params_are_static_through_jit():
    """Params are hashable pytrees with no leaves: jit treats them as static, groups stays a Python int."""
    p = RevLIFParams(groups=4)
    assert jax.tree.leaves(p) == []
    y, _ = jax.jit(rev_lif_step)(p, jnp.ones((2, 8)), jnp.zeros((2, 8)))
    assert y.shape == (2, 8)
