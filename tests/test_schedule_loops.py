"""The binomial schedule and the segmented time reversal as loops: exact gradients (toy step against an unrolled
loop in float64; the exact neuron and a network against plain reverse bit for bit), memory flat in T, the
end-to-end check, and their strategy labels."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from revsnn_jax import ExactRevLIFParams, Strategy, bench, nn, run_time_loop
from revsnn_jax.compiled import memory_stats
from revsnn_jax.errors import InputError
from revsnn_jax.neuron_loop import neuron_step
from revsnn_jax.nn import network
from helpers import images, tiny_model
from test_time_loop import exact_steps, loop_loss, toy_problem, unrolled_loss


@pytest.mark.parametrize("timesteps,slots", [(1, None), (7, 0), (7, 2), (13, 1), (13, 3), (13, None),
                                             pytest.param(13, 12, marks=pytest.mark.slow)])
@pytest.mark.parametrize("sequence", [True, False])
def test_binomial_loop_matches_autodiff_of_an_unrolled_loop(x64, timesteps, slots, sequence):
    prob = toy_problem(timesteps, seed=timesteps)
    ref = jax.grad(lambda *a: unrolled_loss(*a, sequence=sequence), (0, 1, 2))(*prob)
    strategy = Strategy("anchored", segment="binomial", anchor_slots=slots)
    got = jax.jit(jax.grad(loop_loss(strategy, sequence), (0, 1, 2)))(*prob)
    assert bench.gradient_error(got, ref)["relative_error"] <= 1e-12
    np.testing.assert_allclose(jax.jit(loop_loss(strategy, sequence))(*prob),
                               unrolled_loss(*prob, sequence=sequence), rtol=1e-13)


def exact_neuron_grads(strategy, timesteps=12):
    p = ExactRevLIFParams(groups=2)
    step = neuron_step(p)
    xs, v0, wy, wv = bench.problem(timesteps, 4, 16, jnp.float32)
    v0 = p.canonical_state(v0)

    def f(xs, v0):
        outs, _, v_last = run_time_loop(step, None, None, xs, v0, timesteps=timesteps, sequence_input=True,
                                        strategy=strategy)
        return jnp.sum(outs * wy) + jnp.sum(v_last * wv)
    return jax.jit(jax.grad(f, (0, 1)))(xs, v0)


@pytest.mark.parametrize("anchor_every", [None, 1, 4, 5, 12])    # 5: the last segment pads; 12: one segment
def test_segmented_reverse_equals_reverse_bit_for_bit(anchor_every):
    ref = exact_neuron_grads("reverse")
    got = exact_neuron_grads(Strategy("reverse", segment="segmented", anchor_every=anchor_every))
    for g, r in zip(got, ref):
        np.testing.assert_array_equal(g, r)


def test_segmented_reversal_that_loses_exactness_gives_nan_gradients():
    good, bad = exact_steps()
    xs, _, wy, _ = bench.problem(6, 2, 8, jnp.float32)

    def grads(step):
        return jax.jit(jax.grad(lambda xs: jnp.sum(run_time_loop(
            step, None, None, xs, jnp.zeros((2, 8)), timesteps=6, sequence_input=True,
            strategy=Strategy("reverse", segment="segmented", anchor_every=3))[0] * wy)))(xs)

    assert np.all(np.isfinite(grads(good)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = jax.block_until_ready(grads(bad))
    assert np.all(np.isnan(g))
    assert any("reversal lost exactness" in str(w.message) for w in caught)


def network_grads(strategy, neuron, encoding="frames", timesteps=6):
    graphdef, params, stats = tiny_model("vgg_tiny", nn.NeuronSpec(neuron))
    inputs = images(4, timesteps=timesteps if encoding == "frames" else None)
    labels = jnp.arange(4) % 10

    def loss(params):
        logits, _ = network.forward(graphdef, params, stats, inputs, timesteps=timesteps, strategy=strategy,
                                    encoding=encoding, train=True)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    return jax.jit(jax.grad(loss))(params)


def test_network_gradients_binomial_float32_and_segmented_reverse_bit_for_bit():
    """BatchNorm in training mode, event frames: binomial against BPTT within float32 rounding; segmented reverse
    (k=4, padded) equal to reverse bit for bit."""
    ref = network_grads("bptt", "rev")
    for slots in (None, 1):
        err = bench.gradient_error(network_grads(Strategy.parse("inverse_grad+binomial", anchor_slots=slots), "rev"),
                                   ref)
        assert err["cosine"] >= 0.99999 and err["relative_error"] <= 1e-5, (slots, err)
    rev = network_grads("reverse", "exact_rev")
    seg = network_grads(Strategy("reverse", segment="segmented", anchor_every=4), "exact_rev")
    for a, b in zip(jax.tree.leaves(seg), jax.tree.leaves(rev)):
        np.testing.assert_array_equal(a, b)


def network_temp(strategy, timesteps):
    """Temp bytes of the parameter gradient of vgg_tiny on 8x8 event frames, batch 4 (the frames are data: no
    cotangent)."""
    graphdef, params, stats = tiny_model("vgg_tiny", nn.NeuronSpec("exact_rev" if strategy.loop == "reverse"
                                                                    else "rev"))
    frames = jax.ShapeDtypeStruct((timesteps, 4, 8, 8, 3), jnp.float32)

    def loss(params, frames):
        logits, _ = network.forward(graphdef, params, stats, frames, timesteps=timesteps, strategy=strategy,
                                    encoding="frames", train=True)
        return jnp.sum(logits)
    return memory_stats(jax.jit(jax.grad(loss)).lower(params, frames).compile())["temp_bytes"]


def test_memory_is_flat_in_t_for_a_fixed_slot_count_and_segmented_reverse_grows_slower():
    """Binomial with 4 slots keeps the same states at T=200 as at T=20 (within the 1.3x of the acceptance: per-step
    logits and statistics grow). Segmented reverse at its default k keeps about 2 sqrt(T x state x bits): it grows,
    but at most half as fast as plain reverse's T steps of bits."""
    binomial = Strategy("anchored", segment="binomial", anchor_slots=4)
    assert network_temp(binomial, 200) <= 1.3 * network_temp(binomial, 20)
    growth = {label: network_temp(Strategy.parse(label), 200) - network_temp(Strategy.parse(label), 20)
              for label in ("reverse", "reverse+segmented")}
    assert 0 < growth["reverse+segmented"] <= 0.5 * growth["reverse"], growth


@pytest.mark.parametrize("label,kwargs,message", [
    ("anchored+binomial+low_memory", {}, "choose one of low_memory"),
    ("anchored+binomial", {"anchor_every": 3}, "anchor_every does not apply to the binomial schedule"),
    ("anchored", {"anchor_slots": 3}, "anchor_slots applies to the binomial schedule"),
    ("anchored+segmented", {}, "segmented applies to the reverse loop"),
    ("reverse+binomial", {}, "binomial applies to the anchored loop"),
    ("inverse_grad+binomial", {"anchor_slots": -1}, "anchor_slots must be an integer >= 0"),
])
def test_bad_schedule_options_are_one_line_errors(label, kwargs, message):
    with pytest.raises(InputError, match=message):
        Strategy.parse(label, **kwargs)


def test_labels_round_trip():
    assert Strategy.parse("inverse_grad+binomial", anchor_slots=5).label == "anchored+closed_form+binomial"
    assert Strategy.parse("reverse+segmented", anchor_every=8) == Strategy("reverse", segment="segmented",
                                                                            anchor_every=8)
