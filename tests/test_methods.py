"""Training methods on whole networks: OTTT/SLTT (online, traces), OTTT_O, VGG(sWS), memory flat in T."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from revsnn_jax import train
from revsnn_jax.methods import online
from revsnn_jax.errors import InputError
from revsnn_jax.neurons import DSRIFParams, LIFParams
from revsnn_jax import methods
from revsnn_jax.nn import network
from revsnn_jax.nn.layers import standardize
from revsnn_jax.nn.models import create_model
from helpers import images, tiny_model

T = 3


def setup(name="vgg_tiny", neuron=None, x64=True, seed=0):
    neuron = neuron or LIFParams(decay_input=False, soft_reset=True, surrogate="sigmoid", surrogate_width=4.0)
    dtype = jnp.float64 if x64 else jnp.float32
    g, p, bs = tiny_model(name, neuron, in_channels=1, seed=seed)
    p = jax.tree.map(lambda a: a.astype(dtype), p)   # the running statistics stay float32
    x = images(4, channels=1, scale=2.0, dtype=dtype)
    y = jnp.array([1, 2, 3, 0])
    return g, p, bs, x, y


def per_step_bptt(g, p, bs, x, y, mix=0.0):
    """The per-step loss sum_t L(o_t)/T through plain BPTT (gradient across steps, reset differentiated)."""
    step = network.make_step(g, train=True).apply
    vs, total = network.initial_potentials(g, p, bs, x), 0.0
    for _ in range(T):
        (o, vs), _ = step(p, bs, x, vs)
        total = total + online.step_loss(o, y, T, mix)
    return total


def rel(a, b):
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


@pytest.mark.slow   # 16 s; the online rule in closed form: tests/test_online.py
def test_without_a_leak_ottt_and_sltt_are_bptt_on_a_network(x64):
    # tau = 1 without input decay: V carries (1 - 1/tau) = 0 of itself, so there is no path through time
    g, p, bs, x, y = setup(neuron=LIFParams(tau=1.0, decay_input=False, soft_reset=True, surrogate="sigmoid",
                                            surrogate_width=4.0))
    want_loss, want = jax.value_and_grad(lambda p: per_step_bptt(g, p, bs, x, y, 0.05))(p)
    for method in (methods.Method("ottt", trace_decay=0.0, loss_mix=0.05), methods.Method("sltt", loss_mix=0.05)):
        (loss, _), got = methods.loss_and_grads(method, g, p, bs, x, y, timesteps=T)
        np.testing.assert_allclose(loss, want_loss, rtol=1e-13)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


def test_ottt_traces_every_layer_but_the_first_unless_asked(x64):
    g, p, bs, x, y = setup()
    lam = 0.5
    code = methods.loss_and_grads(methods.Method("ottt", trace_decay=lam), g, p, bs, x, y, timesteps=T)[1]
    general = methods.loss_and_grads(methods.Method("ottt", trace_decay=lam, trace_input=True), g, p, bs, x, y,
                                     timesteps=T)[1]
    sltt = methods.loss_and_grads("sltt", g, p, bs, x, y, timesteps=T)[1]
    first = lambda grads: grads["convs"][0]["kernel"][...]   # noqa: E731
    # Input gradients never read traces, so the untraced first layer gets SLTT's gradient exactly ...
    np.testing.assert_allclose(first(code), first(sltt), rtol=1e-12)
    # ... the traced layers (second conv, head) do not, and tracing the input changes the first layer only.
    assert rel(code["convs"][1]["kernel"][...], sltt["convs"][1]["kernel"][...]) > 1e-3
    assert rel(code["head"]["kernel"][...], sltt["head"]["kernel"][...]) > 1e-3
    assert rel(first(general), first(code)) > 1e-3
    np.testing.assert_allclose(general["convs"][1]["kernel"][...], code["convs"][1]["kernel"][...], rtol=1e-12)


def test_the_head_gradient_is_taken_at_the_trace_of_the_pooled_spikes(x64):
    """The readout's weight gradient is sum_t g_o[t] a[t]^T, a the trace of its input, checked by hand."""
    from flax import nnx

    g, p, bs, x, y = setup()
    lam = 0.5
    got = methods.loss_and_grads(methods.Method("ottt", trace_decay=lam), g, p, bs, x, y, timesteps=T)[1]
    vs, a, want = online.online_state(g, p, bs, x, decay=None)["v"], 0.0, 0.0
    for _ in range(T):
        model = nnx.merge(g, p, bs)
        ctx = online.OnlineContext(model, vs, True, traces=None, decay=None, trace_input=False, step_input=x)
        seen, linear = [], ctx.linear
        ctx.linear = lambda layer, h: (seen.append(h), linear(layer, h))[1]
        logits = model.step(x, ctx)
        a = lam * a + seen[0]
        want = want + a.T @ jax.grad(lambda o: online.step_loss(o, y, T))(logits)
        vs = ctx.new_vs
    np.testing.assert_allclose(got["head"]["kernel"][...], want, rtol=1e-10)


def test_ottt_o_with_zero_learning_rate_matches_ottt_a():
    g, p, bs, x, y = setup(x64=False)
    method_a = methods.Method("ottt", trace_decay=0.5)
    method_o = methods.Method("ottt", trace_decay=0.5, online_update=True)
    opt = optax.sgd(0.0)
    steps = [jax.jit(train.make_train_step(g, opt, timesteps=T, method=m)) for m in (method_a, method_o)]
    outs = [s(p, bs, opt.init(p), x, y) for s in steps]
    for out in outs:   # lr = 0: parameters unchanged
        for a, b in zip(jax.tree.leaves(out[0]), jax.tree.leaves(p)):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(outs[0][3]["loss"], outs[1][3]["loss"], rtol=1e-6)
    # With a learning rate: at T = 1 the two are one and the same step; at T = 3 OTTT_O's later steps see the
    # parameters its earlier steps left, so the result differs.
    opt = optax.sgd(0.1)
    for steps, same in ((1, True), (T, False)):
        new = [jax.jit(train.make_train_step(g, opt, timesteps=steps, method=m))(p, bs, opt.init(p), x, y)[0]
               for m in (method_a, method_o)]
        diff = max(rel(a, b) for a, b in zip(jax.tree.leaves(new[1]), jax.tree.leaves(new[0])))
        assert (diff < 1e-6) if same else (diff > 1e-4), (steps, diff)


def temp_bytes(fn, *args):
    return jax.jit(fn).lower(*args).compile().memory_analysis().temp_size_in_bytes


def test_ottt_memory_is_flat_in_t_and_bptt_is_not():
    g, p, bs, x, y = setup(x64=False)
    got = {}
    for steps in (4, 32):
        for method in ("ottt", "exact"):
            m = methods.Method("ottt", trace_decay=0.5) if method == "ottt" else "exact"
            got[method, steps] = temp_bytes(lambda p: methods.loss_and_grads(m, g, p, bs, x, y, timesteps=steps,
                                                                             strategy="bptt")[1], p)
    assert abs(got["ottt", 32] / got["ottt", 4] - 1) < 0.05, got
    assert got["exact", 32] > 4 * got["exact", 4], got


def test_scaled_weight_standardisation_invariants(x64):
    w = jax.random.normal(jax.random.key(0), (3, 3, 5, 7), jnp.float64) * 0.3 + 0.1
    hat = standardize(w, jnp.ones((7,), jnp.float64))
    n = 3 * 3 * 5
    np.testing.assert_allclose(hat.mean((0, 1, 2)), 0, atol=1e-15)
    var = jnp.var(w, (0, 1, 2), ddof=1)
    np.testing.assert_allclose(jnp.sum(hat ** 2, (0, 1, 2)), (n - 1) / n * var / (var + 1e-4 / n), rtol=1e-12)
    # the gain scales each output channel; gradients flow through the statistics (the mean's direction gets none)
    gain = jnp.arange(1.0, 8.0, dtype=jnp.float64)
    np.testing.assert_allclose(standardize(w, gain), hat * gain[None, None, None], rtol=1e-12)
    # A constant added to an output channel's weights changes nothing, so its gradient sums to 0 over the fan-in
    c = jax.random.normal(jax.random.key(1), w.shape, jnp.float64)
    gw = jax.grad(lambda w: jnp.sum(standardize(w, gain) * c))(w)
    np.testing.assert_allclose(gw.sum((0, 1, 2)), 0, atol=1e-12)
    assert float(jnp.max(jnp.abs(gw))) > 1e-3


def test_vgg_ws_has_no_batchnorm_and_ottt_trains_it():
    g, p, bs = network.split(create_model("vgg11_ws", neuron=LIFParams(), in_channels=2, num_classes=11))
    assert not jax.tree.leaves(bs)
    widths = (2, 64, 128, 256, 256, 512, 512, 512, 512)   # 8 sWS convs (kernel, gain, bias), then 512 -> 11
    want = sum(9 * a * b + 2 * b for a, b in zip(widths, widths[1:])) + 512 * 11 + 11
    assert sum(a.size for a in jax.tree.leaves(p)) == want == 9_228_299   # OTTT's 9.23 M on DVS128-Gesture
    g, p, bs, x, y = setup("vgg_ws_digits", x64=False)
    opt = optax.adam(1e-2)
    step = jax.jit(train.make_train_step(g, opt, timesteps=T, method=methods.Method("ottt", trace_decay=0.5)))
    state = (p, bs, opt.init(p))
    losses = []
    for _ in range(15):
        *state, metrics = step(*state, x, y)
        losses.append(float(metrics["loss"]))
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "ottt", "ottt_trace_decay": 1.5}, "trace_decay must be in [0, 1]"),
    ({"ottt_trace_decay": 0.5}, "set the online methods"),
    ({"method": "sltt", "ottt_trace_input": True}, "set the online methods"),
    ({"method": "dsr", "neuron": "lif"}, "needs a neuron with a rate mapping"),
    ({"method": "dsr", "online_update": True}, "set the online methods"),
    ({"method": "ottt", "surrogate": "dspike"}, "keep the temperature fixed"),
    ({"method": "bogus"}, "unknown method"),
    ({"method": "ottt", "strategy": "bptt"}, "refine the exact method's strategy"),
    ({"method": "sltt", "low_memory": True}, "refine the exact method's strategy"),
])
def test_method_settings_are_checked(kwargs, message):
    with pytest.raises(InputError, match=re.escape(message)):
        train.TrainConfig(**kwargs).resolved()


def test_ottt_default_decay_is_the_neurons_leak():
    cfg = train.TrainConfig(method="ottt", neuron="lif", tau=4.0).resolved()
    assert cfg.method_value().trace_decay == 0.75 == online.leak(cfg.neuron_params())
    assert train.TrainConfig(method="sltt").resolved().method_value().decay is None
    # RevOTTT: no decay measured best for the reversible neurons (experiments/online_cosine.py)
    assert train.TrainConfig(method="ottt", neuron="rev").resolved().method_value().trace_decay == 0.0
    assert train.TrainConfig(method="ottt", neuron="rev", ottt_trace_decay=0.5).resolved().method_value().decay == 0.5


@pytest.mark.slow   # 10 s; the frame path of each loop is also run by tests/test_cli.py and the event tests
def test_event_frames_take_the_sequence_path_of_every_method():
    """Frames [T, B, ...] of one repeated image give the same online and rate gradients as the image fed at
    every step (the two input paths of accumulate and rates_forward)."""
    for method, neuron in ((methods.Method("ottt", trace_decay=0.5), None), (methods.Method("dsr"), DSRIFParams())):
        g, p, bs, x, y = setup(neuron=neuron, x64=False)
        frames = jnp.broadcast_to(x[None], (T,) + x.shape)
        direct = methods.loss_and_grads(method, g, p, bs, x, y, timesteps=T)[1]
        framed = methods.loss_and_grads(method, g, p, bs, frames, y, timesteps=T, encoding="frames")[1]
        for a, b in zip(jax.tree.leaves(framed), jax.tree.leaves(direct)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    with pytest.raises(InputError, match="event frames have 2 timesteps"):
        methods.loss_and_grads(methods.Method("sltt"), g, p, bs, frames[:2], y, timesteps=T, encoding="frames")
