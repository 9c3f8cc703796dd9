"""The exactly reversible fixed-point neuron: bit-exact inverse, snapping of recomputed inputs, its closed-form VJP
against an independent float64 formulation, and the validation of its parameters."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from revsnn_jax import ExactRevLIFParams, LIFParams, PLIFParams, exact_rev_lif_inverse, exact_rev_lif_step
from revsnn_jax.neurons import exact_rev_lif as E
from revsnn_jax.surrogate import spike


def forward_and_back(p, xs, rebuilt=None):
    """Runs ``p.keep`` over ``xs`` and then ``p.rebuild`` backwards (on ``rebuilt`` inputs if given). Returns the
    forward's potentials before each step and the recovered ones, as integers."""
    def fwd(v, x):
        _, v_next, code = p.keep(None, x, v)
        return v_next, (v, code)

    v_last, (v_before, codes) = jax.lax.scan(fwd, jnp.zeros(xs.shape[1:], xs.dtype), xs)

    def bwd(v, inp):
        x, code = inp
        _, v_prev = p.rebuild(None, x, code, v)
        return v_prev, v_prev

    _, recovered = jax.lax.scan(bwd, v_last, (xs if rebuilt is None else rebuilt, codes), reverse=True)
    return E.to_fixed(p, v_before), E.to_fixed(p, recovered), codes


@pytest.mark.parametrize("groups", [2, 3, 4, 144])
def test_inverse_is_bit_exact_over_1000_steps(groups):
    """Acceptance: integer equality of every recovered V^{t-1}, T=1000, input scales 0.1-10 and saturating ones."""
    p = ExactRevLIFParams(groups=groups)
    width = 144 * 2 if groups == 144 else 12 * groups
    for scale in (0.1, 1.0, 10.0, 100.0):   # 100: far beyond x_max=32, every large input saturates
        xs = scale * jax.random.normal(jax.random.key(groups), (1000, 3, width), jnp.float32)
        before, recovered, codes = jax.jit(lambda xs: forward_and_back(p, xs))(xs)
        np.testing.assert_array_equal(recovered, before)
        rate = float(jnp.mean(codes & 1))
        assert rate > 0.02 or scale == 0.1, (scale, rate)   # the neurons do spike (and reset)


def test_snapping_recovers_inputs_recomputed_with_rounding_error():
    """Rebuilt inputs a few ulps off the forward's (as another convolution algorithm gives): exact with snap, and
    wrong without, so the parity bit is what makes it exact."""
    xs = 2.0 * jax.random.normal(jax.random.key(0), (200, 8, 64), jnp.float32)
    noise = jax.random.randint(jax.random.key(1), xs.shape, -4, 5).astype(jnp.float32)
    rebuilt = xs + noise * jnp.abs(xs) * 2.0 ** -23
    moved = np.mean(np.round(np.asarray(rebuilt) * 2**16) != np.round(np.asarray(xs) * 2**16))
    assert moved > 0.01   # the noise does move quantised inputs across rounding boundaries
    for snap in (True, False):
        p = ExactRevLIFParams(snap=snap)
        before, recovered, _ = jax.jit(lambda xs, r: forward_and_back(p, xs, r))(xs, rebuilt)
        exact = bool(jnp.all(recovered == before))
        assert exact == snap, snap
        # the outputs rebuilt from the noisy inputs are the forward's too, with snap
        y_forward, _, code = p.keep(None, xs[0], jnp.zeros_like(xs[0]))
        y_rebuilt, _ = p.rebuild(None, rebuilt[0], code, p.keep(None, xs[0], jnp.zeros_like(xs[0]))[1])
        if snap:
            np.testing.assert_array_equal(y_rebuilt, y_forward)


def ste(f, x):
    return x + jax.lax.stop_gradient(f(x) - x)


def shadow(p, x, v):
    """The neuron written independently in float64 on units of 2^-F, every rounding straight-through."""
    one, a = 2.0 ** p.frac_bits, 1.0 / p.tau
    xq = ste(jnp.round, jnp.clip(x * one, -p.x_max * one, p.x_max * one))
    vq = ste(jnp.round, v * one)
    n = p.groups
    xg, vg = jnp.split(xq, n, -1), jnp.split(vq, n, -1)
    ys, vns, inp = [], [], xg[0]
    for k in range(n):
        m = vg[k] + ste(jnp.floor, a * (inp - vg[k]))
        s = spike(m / one - p.v_threshold, p.surrogate, p.surrogate_width)
        vns.append((1 - s) * m + s * p.v_reset * one + ste(jnp.floor, p.alpha * vg[k]))
        ys.append(s * one + ste(jnp.floor, p.beta * xg[(k + 1) % n]))
        inp = ys[-1]
    return jnp.concatenate(ys, -1) / one, jnp.concatenate(vns, -1) / one


@pytest.mark.parametrize("p", [ExactRevLIFParams(groups=3, alpha=0.25, beta=0.5, tau=4.0, v_reset=-0.25,
                                                 surrogate="atan"),
                               ExactRevLIFParams(groups=12)], ids=["odd-settings", "12-groups-scan"])
def test_values_and_closed_form_vjp_match_an_independent_float64_formulation(x64, p):
    kx, kv, kg, kh = jax.random.split(jax.random.key(3), 4)
    x = 3 * jax.random.normal(kx, (16, 8 * p.groups), jnp.float64)
    x = x.at[0, :4].set(jnp.array([40.0, -50.0, 31.99, -33.0]))   # clipped and unclipped near x_max
    v = p.canonical_state(jax.random.normal(kv, x.shape, jnp.float64))
    gy, gv = jax.random.normal(kg, x.shape, jnp.float64), jax.random.normal(kh, x.shape, jnp.float64)
    ref_out, ref_vjp = jax.vjp(lambda x, v: shadow(p, x, v), x, v)
    out, vjp = jax.vjp(jax.jit(lambda x, v: exact_rev_lif_step(p, x, v)), x, v)
    for got, want in zip(out, ref_out):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(vjp((gy, gv)), ref_vjp((gy, gv))):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    _, _, code = p.keep(None, x, v)
    replay_out, replay_vjp = jax.vjp(lambda x, v: p.replay(None, x, code, v), x, v)
    for got, want in zip(replay_out, out):   # the forward's exact values
        np.testing.assert_array_equal(got, want)
    for got, want in zip(replay_vjp((gy, gv)), vjp((gy, gv))):   # the same float expression, eager vs jitted
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(exact_rev_lif_inverse(p, x, code, out[1]), v)


@pytest.mark.parametrize("p", [LIFParams(v_reset=-0.2, surrogate="atan"), PLIFParams(tau=3.0, v_reset=0.1)])
def test_lif_and_plif_closed_forms_match_autodiff(x64, p):
    kx, kv, kg, kh = jax.random.split(jax.random.key(4), 4)
    x, v = jax.random.normal(kx, (8, 10), jnp.float64), jax.random.normal(kv, (8, 10), jnp.float64)
    gy, gv = jax.random.normal(kg, x.shape, jnp.float64), jax.random.normal(kh, x.shape, jnp.float64)
    theta = jax.tree.map(lambda a: a.astype(jnp.float64), p.init_theta(10))
    _, vjp = jax.vjp(lambda t, x, v: p.step(t, x, v), theta, x, v)
    for got, want in zip(jax.tree.leaves(p.step_vjp(theta, x, v, gy, gv)), jax.tree.leaves(vjp((gy, gv)))):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_bits_kept_per_neuron_and_step():
    assert ExactRevLIFParams().keep_bits == 5                       # spike, 3 low bits of V (alpha=1/8), parity
    assert ExactRevLIFParams(snap=False).keep_bits == 4
    assert ExactRevLIFParams(alpha=0.25).keep_bits == 4
    assert ExactRevLIFParams(tau=4.0 / 3.0, alpha=0.5, snap=False).keep_bits == 3   # 1/tau = 3/4


@pytest.mark.parametrize("kwargs,message", [
    ({"alpha": 0.15}, r"alpha=0.15 is not a dyadic fraction .*nearest valid values: 0.140625 and 0.15625"),
    ({"tau": 3.0}, r"1/tau=0.3333333333333333 is not a dyadic fraction .*0.328125 and 0.34375"),
    ({"alpha": 0.75}, r"alpha=0.75 must be <= 1/tau \(0.5\)"),
    ({"alpha": 0.0}, "alpha must be non-zero"),
    ({"v_threshold": 0.3}, "v_threshold=0.3 is not a multiple of 2\\^-16"),
    ({"alpha": 0.4375}, r"the potential can reach .* lower x_max \(below "),
    ({"frac_bits": 30}, "frac_bits must be an integer in 4..20"),
    ({"groups": 0}, "groups must be a positive integer"),
])
def test_parameters_that_break_exactness_are_refused_with_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ExactRevLIFParams(**kwargs)
