"""The generic time loop on a toy step, checked several independent ways (as diffrax's test_adjoint does):
against plain autodiff of an unrolled Python loop, against finite differences (the toy step is smooth), through
vmap of grad, for every anchor spacing and T not divisible by it; the time-reversing loop and its self-check."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from revsnn_jax import ExactRevLIFParams, Step, Strategy, bench, run_time_loop
from revsnn_jax.neuron_loop import neuron_step

D = 6


def toy_apply(w, c, x, v):
    """A smooth step: ``v' = tanh(W x + 0.7 v) * c``; out = ``sin(v')``; aux = the mean of ``v'``."""
    v_next = jnp.tanh(w["W"] @ x + w["a"] * v) * c
    return (jnp.sin(v_next), v_next), jnp.mean(v_next)


def toy_problem(timesteps, dtype=jnp.float64, seed=0):
    k = jax.random.split(jax.random.key(seed), 5)
    w = {"W": 0.5 * jax.random.normal(k[0], (D, D), dtype), "a": jnp.asarray(0.7, dtype)}
    xs = jax.random.normal(k[1], (timesteps, D), dtype)
    v0 = 0.3 * jax.random.normal(k[2], (D,), dtype)
    wy = jax.random.normal(k[3], (timesteps, D), dtype)
    wv = jax.random.normal(k[4], (D,), dtype)
    return w, xs, v0, wy, wv


def loop_loss(strategy, sequence=True):
    def loss(w, xs, v0, wy, wv):
        outs, auxs, v_last = run_time_loop(toy_apply, w, 1.5, xs if sequence else xs[0], v0,
                                           timesteps=wy.shape[0], sequence_input=sequence, strategy=strategy)
        return jnp.sum(outs * wy) + jnp.sum(v_last * wv) + 0.0 * jnp.sum(auxs)
    return loss


def unrolled_loss(w, xs, v0, wy, wv, sequence=True):
    """The same computation as a Python loop: an independent reference."""
    v, total = v0, 0.0
    for t in range(wy.shape[0]):
        (out, v), _ = toy_apply(w, 1.5, xs[t] if sequence else xs[0], v)
        total = total + jnp.sum(out * wy[t])
    return total + jnp.sum(v * wv)


STRATEGIES = [Strategy("bptt"), Strategy("checkpoint"), Strategy("anchored"),
              Strategy("anchored", segment="recompute")] + \
    [Strategy("anchored", anchor_every=k) for k in (1, 2, 3, 4, 7, 9)] + \
    [Strategy("anchored", anchor_every=k, segment="recompute") for k in (2, 3)]


@pytest.mark.parametrize("timesteps", [1, pytest.param(5, marks=pytest.mark.slow), 7])   # 7 pads like 5
@pytest.mark.parametrize("sequence", [True, False])
def test_every_loop_matches_autodiff_of_an_unrolled_loop(x64, timesteps, sequence):
    prob = toy_problem(timesteps, seed=timesteps)
    ref = jax.grad(lambda *a: unrolled_loss(*a, sequence=sequence), (0, 1, 2))(*prob)
    for strategy in STRATEGIES:
        got = jax.jit(jax.grad(loop_loss(strategy, sequence), (0, 1, 2)))(*prob)
        assert bench.gradient_error(got, ref)["relative_error"] <= 1e-12, strategy.label
        value = jax.jit(loop_loss(strategy, sequence))(*prob)
        np.testing.assert_allclose(value, unrolled_loss(*prob, sequence=sequence), rtol=1e-13)


def test_anchored_loop_matches_finite_differences(x64):
    w, xs, v0, wy, wv = toy_problem(6, seed=3)
    loss = jax.jit(loop_loss(Strategy("anchored", anchor_every=4)))   # T=6 in 2 segments of 3 (no padding)
    g = jax.grad(loss, 1)(w, xs, v0, wy, wv)
    eps = 1e-6
    for t, d in [(0, 0), (2, 3), (5, 5), (3, 1)]:
        e = jnp.zeros_like(xs).at[t, d].set(eps)
        fd = (loss(w, xs + e, v0, wy, wv) - loss(w, xs - e, v0, wy, wv)) / (2 * eps)
        assert float(fd) == pytest.approx(float(g[t, d]), rel=1e-7, abs=1e-10)


def test_vmap_of_grad_equals_grads_one_by_one(x64):
    """Per-example gradients through vmap (a batch of parameters) equal a Python loop over the examples."""
    w, xs, v0, wy, wv = toy_problem(5, seed=4)
    ws = {"W": jnp.stack([w["W"], 2 * w["W"], -w["W"]]), "a": jnp.asarray([0.7, 0.2, 0.5], jnp.float64)}
    grad = jax.grad(loop_loss(Strategy("anchored", anchor_every=2)))
    batched = jax.jit(jax.vmap(grad, in_axes=(0, None, None, None, None)))(ws, xs, v0, wy, wv)
    for i in range(3):
        one = grad(jax.tree.map(lambda a: a[i], ws), xs, v0, wy, wv)
        assert bench.gradient_error(jax.tree.map(lambda a: a[i], batched), one)["relative_error"] <= 1e-13


def test_zero_initial_state_given_by_its_shapes(x64):
    """``v0`` as ShapeDtypeStructs means zeros: the same values and parameter gradients as explicit zeros."""
    w, xs, _, wy, wv = toy_problem(5, seed=5)
    shapes = jax.ShapeDtypeStruct((D,), jnp.float64)
    for strategy in ("bptt", "anchored"):
        def loss(w, v0):
            outs, _, v_last = run_time_loop(toy_apply, w, 1.5, xs, v0, timesteps=5, sequence_input=True,
                                            strategy=strategy)
            return jnp.sum(outs * wy) + jnp.sum(v_last * wv)
        np.testing.assert_allclose(jax.grad(lambda w: loss(w, shapes))(w)["W"],
                                   jax.grad(lambda w: loss(w, jnp.zeros(D)))(w)["W"], rtol=1e-13)


def test_reverse_loop_on_the_exact_neuron_equals_bptt_bit_for_bit():
    """The time-reversing loop at neuron level (float32): BPTT's gradients exactly, parameters, inputs and V^0."""
    p = ExactRevLIFParams(groups=2)
    step = neuron_step(p)
    xs, v0, wy, wv = bench.problem(12, 4, 16, jnp.float32)
    v0 = p.canonical_state(v0)

    def loss(strategy):
        def f(xs, v0):
            outs, _, v_last = run_time_loop(step, None, None, xs, v0, timesteps=12, sequence_input=True,
                                            strategy=strategy)
            return jnp.sum(outs * wy) + jnp.sum(v_last * wv)
        return jax.jit(jax.grad(f, (0, 1)))(xs, v0)

    for got, ref in zip(loss("reverse"), loss("bptt")):
        np.testing.assert_array_equal(got, ref)


def exact_steps():
    """``(good, bad)``: the exact neuron's step, and the same with a rebuild one fixed-point unit off."""
    p = ExactRevLIFParams()
    good = neuron_step(p)

    def bad_rebuild(theta, consts, x, v_next, packed):
        v, code = good.rebuild(theta, consts, x, v_next, packed)
        return v + 2.0 ** -p.frac_bits, code   # off by one fixed-point unit

    return good, Step(apply=good.apply, keep=good.keep, rebuild=bad_rebuild, replay=good.replay,
                      canonical_state=good.canonical_state)


def test_a_reversal_that_loses_exactness_gives_nan_gradients_and_says_so():
    good, bad = exact_steps()
    xs, v0, wy, _ = bench.problem(5, 2, 8, jnp.float32)

    def grads(step):
        return jax.jit(jax.grad(lambda xs: jnp.sum(run_time_loop(step, None, None, xs, jnp.zeros((2, 8)),
                                                                 timesteps=5, sequence_input=True,
                                                                 strategy="reverse")[0] * wy)))(xs)

    assert np.all(np.isfinite(grads(good)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = jax.block_until_ready(grads(bad))
    assert np.all(np.isnan(g))
    assert any("reversal lost exactness" in str(w.message) and "16 potentials" in str(w.message) for w in caught)


@pytest.mark.parametrize("strategy,missing", [("anchored+keep_convs", "record, replay"),
                                              ("reverse", "keep, rebuild, replay")])
def test_a_plain_step_function_says_which_loops_it_cannot_run(strategy, missing):
    w, xs, v0, _, _ = toy_problem(3)
    with pytest.raises(ValueError, match=f"needs a step with {missing}"):
        run_time_loop(toy_apply, w, 1.5, xs, v0, timesteps=3, sequence_input=True, strategy=strategy)


@pytest.mark.parametrize("strategy", ["anchored", "checkpoint"])
def test_frame_inputs_nobody_differentiates_cost_no_memory(strategy):
    """Event data: long sequences of large frames. Their cotangent must not be made when only the weights are
    differentiated: doubling the frames' width leaves the step's temp memory unchanged (it would grow by a whole
    [T, B, N] buffer otherwise), while bptt, which keeps its per-step inputs, grows."""
    T, B, H = 64, 4, 8

    def temp(n, strategy):
        def apply(w, _, x, v):
            v = 0.9 * v + x @ w
            return (jnp.tanh(v), v), None

        def loss(w, xs):
            outs, _, _ = run_time_loop(apply, w, None, xs, jax.ShapeDtypeStruct((B, H), jnp.float32),
                                       timesteps=T, sequence_input=True, strategy=strategy)
            return jnp.sum(outs ** 2)
        args = jax.ShapeDtypeStruct((n, H), jnp.float32), jax.ShapeDtypeStruct((T, B, n), jnp.float32)
        return jax.jit(jax.grad(loss)).lower(*args).compile().memory_analysis().temp_size_in_bytes

    frames = T * B * 2048 * 4   # the bytes that doubling the width adds to the frames: 2 MiB
    assert abs(temp(4096, strategy) - temp(2048, strategy)) < frames / 16
    assert temp(4096, "bptt") - temp(2048, "bptt") > frames / 2
