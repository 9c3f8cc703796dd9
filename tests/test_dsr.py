"""DSR's neurons (rates, the rate-mapping backward, the threshold), the dsr method on networks, RevDSR's mapping."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from revsnn_jax.neurons import NEURONS, DSRIFParams, DSRLIFParams, RevLIFParams
from revsnn_jax.neurons.dsr import rev_rate_fit, rev_rate_map, sequence
from revsnn_jax import methods
from revsnn_jax.nn import network
from revsnn_jax.nn.layers import Neuron
from revsnn_jax.nn.models import create_model


def constant(values, steps=20):
    return jnp.broadcast_to(jnp.asarray(values, jnp.float32)[None], (steps, len(values)))


def test_if_rates_at_the_reference_points():
    p = DSRIFParams(v_threshold=1.0, firing_fraction=0.5)
    rates = sequence(p, p.init_theta(1), constant([-0.5, 0.1, 0.37, 0.95, 1.3])).mean(0)
    np.testing.assert_allclose(rates, [0, 0.1, 0.35, 0.95, 1.0], atol=1e-6)
    # rounding: within V_th / (2T) of the clamp everywhere
    x = jnp.linspace(-0.5, 1.5, 401)
    rates = sequence(p, p.init_theta(1), constant(x)).mean(0)
    assert float(jnp.max(jnp.abs(rates - jnp.clip(x, 0, 1)))) <= 1 / 40 + 1e-6


def test_lif_weighted_rates_at_the_reference_points():
    p = DSRLIFParams()   # V_th 0.3, f 0.3, tau 1, dt 0.05
    out = sequence(p, p.init_theta(1), constant([0.5, 2.0, 5.0, 8.0]))
    np.testing.assert_allclose(p.rates(out), [0.5685, 2.0551, 5.1215, 6.0000], atol=1e-4)
    w = p.weights(20)
    np.testing.assert_allclose([w[0], w[-1], jnp.sum(w)], [0.386741, 1.0, 12.96111], rtol=1e-5)


@pytest.mark.parametrize("neuron", [DSRIFParams(threshold_grad_scale=0.7), DSRLIFParams()])
def test_the_backward_is_the_rate_mappings_closed_form(neuron):
    k = jax.random.split(jax.random.key(0), 3)
    steps = 20
    base = jax.random.uniform(k[0], (64,), minval=-0.5, maxval=10.0 if neuron.kind == "dsr_lif" else 1.5)
    xs = base[None] + 0.2 * jax.random.normal(k[2], (steps, 64))
    gs = jax.random.normal(k[1], (steps, 64))                 # cotangents that vary with t
    theta = neuron.init_theta(64)
    _, vjp = jax.vjp(lambda th, x: sequence(neuron, th, x), theta, xs)
    gth, gx = vjp(gs)
    v_th = neuron.v_threshold
    if neuron.kind == "dsr_if":
        r, g = xs.mean(0), gs.sum(0)
        mask, over = (r >= 0) & (r <= v_th), r > v_th
        want_gx = g / steps * mask
    else:
        w = jnp.exp(-(steps - jnp.arange(1, steps + 1)) * neuron.dt / neuron.tau)
        r, g = (w @ xs) / w.sum(), steps * (w @ gs) / w.sum()
        top = v_th * neuron.tau / neuron.dt
        mask, over = (r > 0) & (r < top), r > top
        want_gx = g / (neuron.tau * steps) * mask
    assert 0 < int(mask.sum()) < 64 and int(over.sum()) > 0     # the draw exercises both masks
    for t in range(steps):                                       # the same for every step
        np.testing.assert_allclose(gx[t], want_gx, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(gth["v_th"], neuron.threshold_grad_scale * jnp.sum(g * over), rtol=1e-5)


def test_one_layer_equals_the_ann_of_rates():
    """A one-layer IF net on constant input: DSR's weight gradient is the ANN gradient of clamp(r W, 0, V_th)."""
    k = jax.random.split(jax.random.key(1), 3)
    r = jax.random.uniform(k[0], (8, 5))
    w = jax.random.normal(k[1], (5, 6)) * 0.6
    c = jax.random.normal(k[2], (8, 6))
    p = DSRIFParams()
    theta = p.init_theta(6)

    def snn(w):
        xs = jnp.broadcast_to((r @ w)[None], (20, 8, 6))
        return jnp.sum(c * sequence(p, theta, xs).mean(0))

    ann = jax.grad(lambda w: jnp.sum(c * jnp.clip(r @ w, 0, 1.0)))(w)
    np.testing.assert_allclose(jax.grad(snn)(w), ann, rtol=1e-5, atol=1e-6)


def test_the_threshold_is_projected_to_its_bound():
    p = DSRIFParams(threshold_bound=0.01)
    x = jnp.full((3, 4), 0.5)
    out = sequence(p, {"v_th": jnp.float32(-0.2)}, x)   # a step pushed the parameter below the bound
    assert float(out.max()) == pytest.approx(0.01)        # spikes have the bound's amplitude
    # the projection passes gradients straight through
    g = jax.grad(lambda th: sequence(p, {"v_th": th}, x).sum())(jnp.float32(-0.2))
    assert np.isfinite(g)


def test_dsr_neurons_step_like_their_sequence():
    """Stepped one timestep at a time (evaluation, other methods) the neurons compute the same forward."""
    for neuron in (DSRIFParams(), DSRLIFParams()):
        xs = jax.random.uniform(jax.random.key(2), (7, 10), minval=-1, maxval=8)
        theta = neuron.init_theta(10)
        v, outs = jnp.zeros(10), []
        for x in xs:
            y, v = neuron.step(theta, x, v)
            outs.append(y)
        np.testing.assert_array_equal(jnp.stack(outs), sequence(neuron, theta, xs))
    assert NEURONS["dsr_if"] is DSRIFParams and NEURONS["dsr_lif"] is DSRLIFParams


def test_rev_rate_map_follows_the_simulated_neuron():
    """One group of the reversible neuron, constant input: silent below the derived onset c, firing every step
    above c + w, a staircase rising monotonically between whose mean is within 0.1 of the clamp's 1/2."""
    p = RevLIFParams()
    c, w = rev_rate_fit(p)
    np.testing.assert_allclose((c, c + w), (2 * (1 - 0.5 / 0.85), 2.0), rtol=1e-12)
    steps, x = 400, jnp.linspace(0.0, 3.0, 301)
    inputs = jnp.stack([x, jnp.zeros_like(x)], -1)          # group 2's own input 0: Y_1 = S_1
    rate = sequence(p, None, jnp.broadcast_to(inputs[None], (steps, 301, 2)))[:, :, 0].mean(0)
    below, above, rising = x < c - 0.02, x > c + w + 0.02, (x > c) & (x < c + w)
    np.testing.assert_array_equal(rate[below], 0.0)
    np.testing.assert_allclose(rate[above], 1.0)
    assert bool(jnp.all(jnp.diff(rate) >= 0))
    mapped = rev_rate_map(p, inputs)[:, 0]
    np.testing.assert_allclose(mapped[below | above], rate[below | above], atol=1e-6)
    assert abs(float(rate[rising].mean()) - 0.5) < 0.1


def test_rev_sequence_backward_is_the_mappings_vjp():
    p = RevLIFParams()
    xs = jax.random.uniform(jax.random.key(3), (6, 5, 4), minval=0, maxval=3)
    gs = jax.random.normal(jax.random.key(4), (6, 5, 4))
    _, vjp = jax.vjp(lambda x: sequence(p, None, x), xs)
    (gx,) = vjp(gs)
    _, map_vjp = jax.vjp(lambda r: rev_rate_map(p, r), xs.mean(0))
    want = map_vjp(gs.sum(0) / 6)[0]
    for t in range(6):
        np.testing.assert_allclose(gx[t], want, rtol=1e-6)


def dsr_setup(name="preact_resnet_tiny", neuron=None):
    model = create_model(name, neuron=neuron or DSRIFParams(), in_channels=1)
    g, p, bs = network.split(model)
    x = jax.random.normal(jax.random.key(5), (4, 8, 8, 1)) * 2
    return model, g, p, bs, x, jnp.array([0, 1, 2, 3])


def test_rates_forward_in_evaluation_equals_the_stepped_forward():
    _, g, p, bs, x, _ = dsr_setup()
    folded, _ = methods.dsr.rates_forward(g, p, bs, x, timesteps=5, train=False)
    stepped, _ = network.forward(g, p, bs, x, timesteps=5, train=False)
    np.testing.assert_allclose(folded, stepped, rtol=1e-5, atol=1e-6)


def test_dsr_low_memory_gives_the_same_gradient_with_less_memory():
    _, g, p, bs, x, y = dsr_setup("preact_resnet_tiny")
    runs = {}
    for low in (False, True):
        fn = jax.jit(lambda p: methods.loss_and_grads(methods.Method("dsr", low_memory=low), g, p, bs, x, y,
                                                      timesteps=8)[1])
        runs[low] = (fn(p), fn.lower(p).compile().memory_analysis().temp_size_in_bytes)
    for a, b in zip(jax.tree.leaves(runs[True][0]), jax.tree.leaves(runs[False][0])):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert runs[True][1] < runs[False][1]


def test_preact_resnet18_is_dsrs_layout():
    model = create_model("preact_resnet18", neuron=DSRLIFParams(), num_classes=10)
    layers = [node for _, node in nnx.iter_graph(model) if isinstance(node, Neuron)]
    assert len(layers) == 19                         # 2 x 8 in blocks, + final, pool and head neurons
    blocks = list(model.blocks)
    assert [b.shortcut is None for b in blocks] == [True, True, False, True, False, True, False, True]
    assert model.stem.bias is None and blocks[0].bias1.shape == (64,)
    tiny = create_model("preact_resnet_tiny", neuron=DSRLIFParams(), num_classes=10)
    logits, _ = methods.dsr.rates_forward(*network.split(tiny), jnp.ones((2, 8, 8, 3)), timesteps=2, train=False)
    assert logits.shape == (2, 10) and float(logits.min()) >= 0   # rates of the head's neurons


@pytest.mark.parametrize("make, message", [
    (lambda: DSRIFParams(v_threshold=0.005), "v_threshold (0.005) must be > threshold_bound (0.01)"),
    (lambda: DSRIFParams(firing_fraction=0.0), "firing_fraction must be in (0, 1]"),
    (lambda: DSRLIFParams(dt=0.0), "tau and dt must be > 0"),
    (lambda: DSRLIFParams(threshold_grad_scale=-1.0), "threshold_grad_scale must be >= 0"),
])
def test_bad_dsr_settings_are_one_line_errors(make, message):
    from revsnn_jax.errors import InputError
    with pytest.raises(InputError, match=re.escape(message)):
        make()


def test_the_dsr_method_refuses_neurons_without_a_rate_mapping():
    from revsnn_jax.errors import InputError
    _, g, p, bs, x, y = dsr_setup(neuron=NEURONS["lif"]())
    with pytest.raises(InputError, match="needs a neuron with a rate mapping"):
        methods.loss_and_grads("dsr", g, p, bs, x, y, timesteps=2)
