"""OTTT's pure pieces: the trace, the traced ops, and the online gradient against closed forms and BPTT (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from revsnn_jax.methods import online
from revsnn_jax.nn.conv import conv_traced
from revsnn_jax.surrogate import spike, surrogate_grad

TH, C, ALPHA = 1.0, 2.74, 4.0   # threshold, OTTT's scale after each neuron, sigmoid surrogate sharpness


def test_trace_recursion():
    a, got = jnp.zeros(()), []
    for s in (1.0, 0.0, 1.0, 1.0, 0.0):
        a = online.trace(a, s, 0.5)
        got.append(float(a))
    assert got == [1.0, 0.5, 1.25, 1.625, 0.8125]


def test_traced_ops_take_the_weight_gradient_at_the_trace(x64):
    k = jax.random.split(jax.random.key(0), 6)
    x, a, w, g = (jax.random.normal(k[i], s) for i, s in enumerate([(3, 4, 5), (3, 4, 5), (5, 2), (3, 4, 2)]))
    y, vjp = jax.vjp(online.traced_matmul, x, w, a)
    gx, gw, ga = vjp(g)
    np.testing.assert_allclose(y, x @ w, rtol=1e-14)
    np.testing.assert_allclose(gx, g @ w.T, rtol=1e-13)
    np.testing.assert_allclose(gw, jnp.einsum("bti,bto->io", a, g), rtol=1e-13)
    assert not np.any(np.asarray(ga))
    xc, ac = jax.random.normal(k[4], (2, 6, 6, 3)), jax.random.normal(k[5], (2, 6, 6, 3))
    wc = jax.random.normal(k[0], (3, 3, 3, 4))

    def conv(x, w):
        return jax.lax.conv_general_dilated(x, w, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

    y, vjp = jax.vjp(lambda x, w: conv_traced(x, w, ac, (2, 2), "SAME"), xc, wc)
    gc = jax.random.normal(k[1], y.shape)
    gx, gw = vjp(gc)
    np.testing.assert_allclose(y, conv(xc, wc), rtol=1e-13)
    np.testing.assert_allclose(gx, jax.vjp(lambda x: conv(x, wc), xc)[1](gc)[0], rtol=1e-12)
    np.testing.assert_allclose(gw, jax.vjp(lambda w: conv(ac, w), wc)[1](gc)[0], rtol=1e-12)


def make_net(lam, trace_input):
    """One hidden layer of OTTT's neuron (u = lam*v + x W1 + b1, soft reset V_th detached, sigmoid surrogate),
    a readout on 2.74 * spikes with its weight gradient at the trace; the first layer on the raw input (the
    reference code's form) or on a trace of it (the paper's general form)."""

    def step(p, x, state):
        v, ax, a_s = state
        ax = online.trace(ax, x, lam)
        h = online.traced_matmul(x, p["w1"], ax if trace_input else x) + p["b1"][None]
        u = lam * v + h
        s = spike(u - TH, "sigmoid", ALPHA)
        a_s = online.trace(a_s, s, lam)
        o = online.traced_matmul(C * s, p["w2"], C * a_s) + p["b2"][None]
        return o, (u - jax.lax.stop_gradient(s) * TH, ax, a_s)

    return step


def problem(seed=0, T=6, B=5, n=4, hidden=7, K=3):
    k = jax.random.split(jax.random.key(seed), 6)
    p = {"w1": 0.8 * jax.random.normal(k[0], (n, hidden)), "b1": 0.3 * jax.random.normal(k[1], (hidden,)),
         "w2": 0.5 * jax.random.normal(k[2], (hidden, K)), "b2": 0.1 * jax.random.normal(k[3], (K,))}
    xs = jax.random.normal(k[4], (T, B, n)) + 0.5
    labels = jax.random.randint(k[5], (B,), 0, K)
    state = (jnp.zeros((B, hidden)), jnp.zeros((B, n)), jnp.zeros((B, hidden)))
    return p, xs, labels, state


@pytest.mark.parametrize("mix", [0.0, 0.05])
def test_one_hidden_layer_matches_the_closed_form(x64, mix):
    lam = 0.5
    p, xs, labels, state = problem()
    out = online.accumulate(make_net(lam, False), p, state, xs, labels, mix=mix)
    grads, logits = out.grads, out.logits
    # forward by hand, then the closed form of the online gradient
    T, B = xs.shape[:2]
    K = p["b2"].shape[0]
    v, a = np.zeros((B, p["b1"].shape[0])), np.zeros((B, p["b1"].shape[0]))
    want = {k: np.zeros(np.shape(x)) for k, x in p.items()}
    w1, b1, w2, b2 = (np.asarray(p[k]) for k in ("w1", "b1", "w2", "b2"))
    y = np.eye(K)[np.asarray(labels)]
    for t in range(T):
        x = np.asarray(xs[t])
        u = lam * v + x @ w1 + b1
        s = (u >= TH).astype(float)
        a = lam * a + s
        o = C * s @ w2 + b2
        np.testing.assert_allclose(logits[t], o, rtol=1e-12)
        e = np.exp(o - o.max(-1, keepdims=True))
        prob = e / e.sum(-1, keepdims=True)
        g_o = ((1 - mix) * (prob - y) + mix * (2 / K) * (o - y)) / (B * T)
        g_u = C * (g_o @ w2.T) * np.asarray(surrogate_grad(jnp.asarray(u - TH), "sigmoid", ALPHA))
        want["w2"] += (C * a).T @ g_o
        want["b2"] += g_o.sum(0)
        want["w1"] += x.T @ g_u
        want["b1"] += g_u.sum(0)
        v = u - s * TH
    for name in want:
        np.testing.assert_allclose(grads[name], want[name], rtol=1e-9, atol=1e-15, err_msg=name)


def bptt_grads(p, xs, labels, lam):
    """Autodiff of the whole unrolled forward with only the reset detached (readout on spikes, no traces)."""

    def total(p):
        v = jnp.zeros((xs.shape[1], p["b1"].shape[0]))
        loss = 0.0
        for t in range(xs.shape[0]):
            u = lam * v + xs[t] @ p["w1"] + p["b1"][None]
            s = spike(u - TH, "sigmoid", ALPHA)
            loss += online.step_loss(C * s @ p["w2"] + p["b2"][None], labels, xs.shape[0])
            v = u - jax.lax.stop_gradient(s) * TH
        return loss

    return jax.grad(total)(p)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_trace_on_the_input_gives_bptts_first_layer_gradient(x64, seed):
    lam = 0.5
    p, xs, labels, state = problem(seed)
    online_grads = online.accumulate(make_net(lam, True), p, state, xs, labels).grads
    ref = bptt_grads(p, xs, labels, lam)
    # w1 only: the bias's input is the constant 1, which this net does not trace, so b1 gets the instantaneous rule
    np.testing.assert_allclose(online_grads["w1"], ref["w1"], rtol=1e-10, atol=1e-14)
    # the reference code's form (raw input) is a different gradient, not a rescaled one
    code_form = online.accumulate(make_net(lam, False), p, state, xs, labels).grads
    err = float(jnp.linalg.norm(code_form["w1"] - ref["w1"]) / jnp.linalg.norm(ref["w1"]))
    assert err > 0.05


def test_without_a_leak_online_training_is_bptt(x64):
    p, xs, labels, state = problem(2)
    grads = online.accumulate(make_net(0.0, False), p, state, xs, labels).grads
    ref = bptt_grads(p, xs, labels, 0.0)
    for name in p:
        np.testing.assert_allclose(grads[name], ref[name], rtol=1e-10, atol=1e-14, err_msg=name)


def test_online_memory_does_not_grow_with_t():
    p, _, _, _ = problem()
    step = make_net(0.5, False)

    def temp(T):
        xs = jnp.ones((T, 64, 4))
        labels = jnp.zeros((64,), jnp.int32)
        state = (jnp.zeros((64, 7)), jnp.zeros((64, 4)), jnp.zeros((64, 7)))
        fn = jax.jit(lambda p: online.accumulate(step, p, state, xs, labels).grads)
        return fn.lower(p).compile().memory_analysis().temp_size_in_bytes

    t4, t64 = temp(4), temp(64)
    assert t64 <= 1.05 * t4 + 64 * 3 * 4   # flat in T (the [T, B, K] logits are an output, not temp)
