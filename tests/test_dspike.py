"""Dspike: the surrogate's values, its temperature search against a brute-force numpy reference, and training."""

import dataclasses
import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from revsnn_jax import cli, nn, train
from revsnn_jax.methods import dspike
from revsnn_jax.errors import InputError
from revsnn_jax.neurons import LIFParams
from revsnn_jax.nn import params as params_lib
from revsnn_jax.nn.layers import Neuron
from revsnn_jax.surrogate import dspike_grad, spike, surrogate_grad


# --- the surrogate --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("b,peak,quarter,edge", [(1, 1.081977, 1.017074, 0.850918), (2, 1.313035, 1.032634, 0.551441),
                                                 (3, 1.657187, 0.988654, 0.299465), (5, 2.533918, 0.710548, 0.067383)])
def test_dspike_values_at_half_width_one_half(x64, b, peak, quarter, edge):
    z = jnp.asarray([0.0, 0.25, -0.25, 0.5, -0.5], jnp.float64)
    got = np.asarray(dspike_grad(z, float(b), 0.5))
    np.testing.assert_allclose(got, [peak, quarter, quarter, edge, edge], atol=1e-6, rtol=0)
    assert edge == pytest.approx(b / np.sinh(b), abs=1e-6)   # the edge value in closed form


def test_dspike_is_zero_outside_integrates_to_one_and_tends_to_the_rectangle(x64):
    z = jnp.asarray([0.5000001, -0.5000001, 0.7, -3.0, 50.0], jnp.float64)
    assert np.all(np.asarray(dspike_grad(z, 3.0, 0.5)) == 0)
    for b, h in ((3.0, 0.5), (1.0, 0.5), (3.0, 1.0), (0.2, 0.5)):
        n = 100_000   # midpoint rule over the support
        mid = -h + (np.arange(n) + 0.5) * (2 * h / n)
        assert float(jnp.sum(dspike_grad(jnp.asarray(mid), b, h)) * (2 * h / n)) == pytest.approx(1.0, abs=1e-9)
    flat = np.asarray(dspike_grad(jnp.linspace(-0.5, 0.5, 11), 1e-4, 0.5))
    np.testing.assert_allclose(flat, 1.0, rtol=1e-7)   # 1 / (2h): the straight-through rectangle
    np.testing.assert_allclose(np.asarray(dspike_grad(jnp.asarray([0.0, 1.0]), 3.0, 1.0)),
                               [1.507455, 0.014873], atol=1e-6)   # h = 1, as some code uses it


def test_dspike_spike_is_heaviside_forward_and_dspike_backward():
    z = jnp.linspace(-1.0, 1.0, 41)
    np.testing.assert_array_equal(spike(z, "dspike", 3.0, 0.5), (z >= 0).astype(z.dtype))
    g = jax.vmap(jax.grad(lambda z: spike(z, "dspike", 3.0, 0.5)))(z)
    np.testing.assert_allclose(g, dspike_grad(z, 3.0, 0.5), rtol=1e-6)
    np.testing.assert_allclose(g, surrogate_grad(z, "dspike", 3.0, 0.5), rtol=1e-6)


@pytest.mark.parametrize("make,message", [
    (lambda: LIFParams(surrogate="atan", surrogate_support=1.0), "surrogate 'atan' has none"),
    (lambda: LIFParams(surrogate="dspike", surrogate_support=0.0), "surrogate_support must be a finite number > 0"),
    (lambda: LIFParams(surrogate="dspike", surrogate_width=float("inf")), "surrogate_width must be a finite"),
    (lambda: train.TrainConfig(dspike_step=0.1).resolved(), "dspike_step set the temperature search.*'paper'"),
    (lambda: train.TrainConfig(surrogate="dspike", dspike_search_every=-1).resolved(), "must be >= 0"),
    (lambda: train.TrainConfig(surrogate="dspike", dspike_eps=0.0).resolved(), "dspike_eps must be a finite"),
])
def test_bad_dspike_settings_are_named(make, message):
    with pytest.raises(InputError, match=message):
        make()


def test_dspike_defaults_and_candidates():
    cfg = train.TrainConfig(surrogate="dspike").resolved()
    assert (cfg.surrogate_width, cfg.surrogate_support, cfg.dspike_search_every) == (3.0, 0.5, 1)
    search = cfg.temperature_search()
    assert (search.step, search.floor, search.every) == (0.2, 0.2, 1)
    assert search.candidates(3.0) == (2.8, 3.0, 3.2)
    assert search.candidates(0.3) == (0.2, 0.3, 0.5)   # b - step clipped at the floor
    assert search.candidates(0.2) == (0.2, 0.4)         # at the floor: two candidates
    assert train.TrainConfig(surrogate="dspike", dspike_search_every=0).resolved().temperature_search() is None
    assert train.TrainConfig().resolved().temperature_search() is None
    assert dspike.choose(3.0, {2.8: 0.5, 3.0: 0.5, 3.2: 0.4}) == 3.0   # a tie keeps b
    assert dspike.choose(3.0, {2.8: np.nan, 3.0: np.nan, 3.2: np.nan}) == 3.0


# --- the search against a numpy reference ---------------------------------------------------------------------

class Toy(nnx.Module):
    """1x1 convolution (6 weights: the 'first layer') -> x4 -> LIF -> spatial mean -> linear head."""

    in_channels, downsample = 2, 1

    def __init__(self, neuron, rngs):
        self.conv = nn.layers.conv(2, 3, 1, 1, rngs)
        self.lif = Neuron(neuron, 3)
        self.head = nnx.Linear(3, 2, rngs=rngs)

    def step(self, x, ctx):
        s = ctx.neuron(self.lif, 4.0 * ctx.conv(self.conv, x))
        return self.head(s.mean((1, 2)))


def numpy_loss_and_grad(w, wh, bh, x, labels, T, b, tau=2.0, th=1.0, vr=0.0, h=0.5):
    """Float64 numpy: the toy's mean cross-entropy and its BPTT surrogate gradient w.r.t. the 1x1 kernel."""
    z = 4.0 * (x @ w)                                   # [B, H, W, 3], the same at every step
    v, ms, ss = np.zeros_like(z), [], []
    for _ in range(T):
        m = v + (z - (v - vr)) / tau
        s = (m >= th).astype(np.float64)
        v = (1 - s) * m + s * vr
        ms.append(m)
        ss.append(s)
    logits = np.mean([s.mean((1, 2)) @ wh + bh for s in ss], 0)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(len(labels)), labels]))
    g_logits = (p - np.eye(2)[labels]) / len(labels)
    g_s = np.broadcast_to(((g_logits / T) @ wh.T)[:, None, None, :] / (z.shape[1] * z.shape[2]), z.shape)
    gv, gz = np.zeros_like(z), np.zeros_like(z)
    for t in reversed(range(T)):
        m, s = ms[t], ss[t]
        zt = m - th
        sg = np.where(np.abs(zt) <= h, b / (2 * np.tanh(b * h)) / np.cosh(b * zt) ** 2, 0.0)
        gs = g_s + gv * (vr - m)
        gm = gv * (1 - s) + gs * sg
        gz += gm / tau
        gv = gm * (1 - 1 / tau)
    return loss, np.einsum("bhwi,bhwo->io", x, 4.0 * gz)


def test_temperature_search_matches_a_brute_force_numpy_reference():
    rng = np.random.default_rng(7)
    x = rng.normal(0.0, 1.0, (16, 3, 3, 2)).astype(np.float32)
    labels = (x[..., 0].mean((1, 2)) > 0).astype(np.int32)
    T, b, eps = 4, 1.0, 0.05
    model = Toy(LIFParams(surrogate="dspike", surrogate_width=b), nnx.Rngs(3))
    graphdef, params, batch_stats = nn.split(model)
    make = functools.partial(train.make_loss, timesteps=T, strategy="bptt")
    assert params_lib.first_layer(params, 2) == "conv.kernel"
    settings = dspike.TemperatureSearch(step=0.5, eps=eps, chunk=4)
    found = dspike.Searcher(graphdef, make, "conv.kernel", settings).search(b, params, batch_stats, x, labels)

    w = np.asarray(params["conv"]["kernel"][...], np.float64)[0, 0]
    wh, bh = (np.asarray(a[...], np.float64) for a in (params["head"]["kernel"], params["head"]["bias"]))
    xd = x.astype(np.float64)
    fd = np.zeros_like(w)
    for i in np.ndindex(*w.shape):   # brute force: 2 x 6 forwards
        e = np.zeros_like(w)
        e[i] = eps
        fd[i] = (numpy_loss_and_grad(w + e, wh, bh, xd, labels, T, b)[0]
                 - numpy_loss_and_grad(w - e, wh, bh, xd, labels, T, b)[0]) / (2 * eps)
    want = {}
    for c in (0.5, 1.0, 1.5):
        g = numpy_loss_and_grad(w, wh, bh, xd, labels, T, c)[1]
        want[c] = float(g.ravel() @ fd.ravel() / np.linalg.norm(g) / np.linalg.norm(fd))
    assert np.abs(fd).max() > 0 and max(want.values()) - min(want.values()) > 1e-3   # a real choice to make
    got = {float(k): v for k, v in found["cosines"].items()}
    assert sorted(got) == [0.5, 1.0, 1.5]
    for c in want:
        assert got[c] == pytest.approx(want[c], abs=1e-4)
    assert found["temperature"] == max(want, key=want.get) and found["forwards"] == 12
    # the finite differences themselves, and the surrogate gradient of the library's BPTT at b
    jfd = dspike.finite_difference_grad(
        lambda k: make(graphdef)(params_lib.set_leaf(params, "conv.kernel", k), batch_stats, x, labels)[0],
        params["conv"]["kernel"][...], eps, chunk=5)
    np.testing.assert_allclose(np.asarray(jfd)[0, 0], fd, atol=2e-5)
    grads = jax.grad(lambda p: make(graphdef)(p, batch_stats, x, labels)[0])(params)
    np.testing.assert_allclose(np.asarray(grads["conv"]["kernel"][...])[0, 0],
                               numpy_loss_and_grad(w, wh, bh, xd, labels, T, b)[1], rtol=1e-4, atol=1e-7)


def test_with_temperature_changes_only_the_neurons_surrogate_width():
    model = nn.create_model("vgg_tiny", num_classes=10, in_channels=1,
                            neuron=LIFParams(surrogate="dspike", surrogate_width=3.0))
    graphdef, params, batch_stats = nn.split(model)
    other = dspike.with_temperature(graphdef, params, batch_stats, 2.4)
    widths = {n.params.surrogate_width for _, n in nnx.iter_graph(nnx.merge(other, params, batch_stats))
              if isinstance(n, Neuron)}
    assert widths == {2.4}
    assert dspike.with_temperature(graphdef, params, batch_stats, 3.0) == graphdef
    with pytest.raises(InputError, match="no parameter 'conv9.kernel'.*convs.0.kernel"):
        params_lib.get_leaf(params, "conv9.kernel")


# --- with the exact strategies ----------------------------------------------------------------------------------

@pytest.mark.parametrize("neuron,strategies", [
    ("rev", ("inverse_grad", "anchored", "inverse_grad+low_memory")),
    ("lif", ("anchored", "checkpoint")),
    pytest.param("exact_rev", ("reverse",), marks=pytest.mark.slow),   # 7 s; reverse with dspike: the same rule
])
def test_dspike_gradients_of_the_exact_strategies_equal_bptt(neuron, strategies):
    cfg = train.TrainConfig(model="vgg_tiny", neuron=neuron, surrogate="dspike", surrogate_width=2.2,
                            timesteps=3).resolved()
    model = nn.create_model("vgg_tiny", num_classes=10, in_channels=1, neuron=cfg.neuron_params())
    graphdef, params, batch_stats = nn.split(model)
    x = jax.random.normal(jax.random.key(0), (8, 8, 8, 1))
    labels = jnp.arange(8) % 10

    def grads(strategy):
        return train.loss_and_grads(graphdef, params, batch_stats, x, labels, timesteps=3, strategy=strategy)[1]

    ref = jax.tree.leaves(grads("bptt"))
    for strategy in strategies:
        for a, r in zip(jax.tree.leaves(grads(strategy)), ref):
            err = float(jnp.linalg.norm(a - r) / jnp.linalg.norm(r))
            assert err <= 1e-5, (strategy, err)


# --- training ---------------------------------------------------------------------------------------------------

DSPIKE = train.TrainConfig(model="vgg_tiny", batch_size=256, epochs=2, timesteps=2, surrogate="dspike",
                           dspike_step=0.5)


@pytest.mark.slow   # 30 s; the search itself: test_temperature_search_matches_a_brute_force_numpy_reference
def test_training_records_the_temperature_and_resume_continues_the_search_exactly(tmp_path):
    full = train.train_and_evaluate(DSPIKE, str(tmp_path / "a"), progress=False)
    records = train.read_metrics(str(tmp_path / "a"))
    temps = [r["surrogate_temperature"] for r in records]
    assert all(r["dspike_search"]["layer"] == "convs.0.kernel" and r["dspike_search"]["forwards"] == 144
               for r in records)
    assert [r["dspike_search"]["previous"] for r in records] == [3.0] + temps[:-1]
    for r in records:
        cos = {float(k): v for k, v in r["dspike_search"]["cosines"].items()}
        assert r["surrogate_temperature"] == max(cos, key=cos.get) and len(cos) == 3

    def stop_in_second_epoch(step, metrics):
        if step == 7:   # 5 steps per epoch: after the second search, before the second checkpoint
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train.train_and_evaluate(DSPIKE, str(tmp_path / "b"), progress=False, on_step=stop_in_second_epoch)
    resumed = train.train_and_evaluate(DSPIKE, str(tmp_path / "b"), resume=True, progress=False)
    strip = lambda rs: [{k: v for k, v in r.items() if k not in ("epoch_seconds", "images_per_second")}   # noqa
                        for r in rs]
    for r in records:
        r["dspike_search"].pop("seconds")
    got = train.read_metrics(str(tmp_path / "b"))
    for r in got:
        r["dspike_search"].pop("seconds")
    assert strip(got) == strip(records) and resumed["test_accuracy"] == full["test_accuracy"]


def test_a_fixed_temperature_trains_without_search(tmp_path):
    cfg = dataclasses.replace(DSPIKE, epochs=1, dspike_search_every=0, surrogate_width=1.5)
    train.train_and_evaluate(cfg, str(tmp_path / "run"), progress=False)
    (record,) = train.read_metrics(str(tmp_path / "run"))
    assert record["surrogate_temperature"] == 1.5 and "dspike_search" not in record


def test_both_methods_together_through_the_cli(tmp_path, capsys):
    argv = ["train", "--model", "vgg_tiny", "--neuron", "lif", "--strategy", "anchored", "--timesteps", "2",
            "--batch-size", "256", "--epochs", "1", "--surrogate", "dspike", "--surrogate-width", "1.4",
            "--dspike-search-every", "0", "--sparse-final-density", "0.25", "--sparse-initial-density", "0.25",
            "--no-progress", "--json", "--workdir", str(tmp_path / "run")]
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "completed"
    (record,) = train.read_metrics(str(tmp_path / "run"))
    assert record["surrogate_temperature"] == 1.4 and record["density"] == pytest.approx(0.25, abs=1e-3)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (saved["surrogate"], saved["sparse_final_density"]) == ("dspike", 0.25)
    assert cli.main(argv[:-2] + ["--dspike-step", "0.1", "--surrogate", "atan", "--workdir", str(tmp_path / "b")]) == 2
    assert "dspike_search_every, dspike_step set the temperature search" in capsys.readouterr().err
