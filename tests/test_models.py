"""Bring your own model and neuron: a flax.nnx model that is not in the registry, trained under every strategy;
every neuron under every exact loop in a network; the time-reversing loop on networks."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from revsnn_jax import ExactRevLIFParams, LIFParams, PLIFParams, STRATEGIES, Strategy, bench, nn, train
from revsnn_jax.neurons import DSRIFParams, RevLIFParams
from revsnn_jax import methods
from revsnn_jax.nn import network


class TinySNN(nnx.Module):
    """A user's model (the example of docs/models.md): conv -> BN -> neuron, a shortcut, pooling, a readout."""

    def __init__(self, neuron, *, rngs: nnx.Rngs, num_classes: int = 10):
        self.conv1 = nn.conv(3, 8, 3, 1, rngs)
        self.bn1 = nn.BatchNorm(8)
        self.spike1 = nn.Neuron(neuron, 8, "spike1")
        self.conv2 = nn.conv(8, 8, 3, 1, rngs)
        self.bn2 = nn.BatchNorm(8)
        self.spike2 = nn.Neuron(neuron, 8, "spike2")
        self.readout = nnx.Linear(8, num_classes, rngs=rngs)
        self.in_channels, self.downsample = 3, 2

    def step(self, x, ctx):
        h = ctx.bn_neuron(self.bn1, self.spike1, ctx.conv(self.conv1, x))
        h = ctx.bn_neuron(self.bn2, self.spike2, ctx.conv(self.conv2, h), residual=h)   # a shortcut
        return ctx.linear(self.readout, nn.avg_pool(h).mean((1, 2)))


def user_model(neuron, dtype=jnp.float32):
    graphdef, params, stats = nn.split(TinySNN(neuron, rngs=nnx.Rngs(0)))
    cast = lambda t: jax.tree.map(lambda a: a.astype(dtype), t)   # noqa: E731
    images = jax.random.normal(jax.random.key(1), (4, 8, 8, 3), dtype)
    return graphdef, cast(params), cast(stats), images, jnp.arange(4) % 10


def grads(graphdef, params, stats, inputs, labels, strategy, timesteps=6, encoding="direct"):
    return jax.jit(lambda p: train.loss_and_grads(graphdef, p, stats, inputs, labels, timesteps=timesteps,
                                                  strategy=strategy, encoding=encoding)[1])(params)


@pytest.mark.slow   # 39 s; every strategy on a model: test_nn.py's gradient tests and the reverse test below
def test_a_users_model_trains_under_every_strategy_with_bptt_gradients():
    """Acceptance: float32 cosine >= 0.9999 and relative error <= 1e-5 against BPTT, every strategy; with the exact
    neuron so that reverse runs too, and with PLIF for the rest."""
    for neuron in (ExactRevLIFParams(), PLIFParams()):
        data = user_model(neuron)
        ref = grads(*data, "bptt")
        for label, strategy in STRATEGIES.items():
            if (strategy.loop == "reverse" and neuron.kind != "exact_rev") or strategy.neuron_grad == "paper":
                continue
            err = bench.gradient_error(grads(*data, strategy), ref)
            assert err["cosine"] >= 0.9999 and err["relative_error"] <= 1e-5, (neuron.kind, label, err)
    graphdef, params, stats, images, labels = user_model(ExactRevLIFParams())
    optimizer = optax.adam(1e-2)
    step = jax.jit(train.make_train_step(graphdef, optimizer, timesteps=4, strategy="reverse"))
    opt_state, losses = optimizer.init(params), []
    for _ in range(25):
        params, stats, opt_state, metrics = step(params, stats, opt_state, images, labels)
        losses.append(float(metrics["loss"]))
    assert losses[-1] < 0.5 * losses[0]
    assert set(network.forward(graphdef, params, stats, images, timesteps=2)[1]) == {"bn1", "bn2"}   # by path


@pytest.mark.parametrize("neuron", [pytest.param(LIFParams(), marks=pytest.mark.slow),
                                    pytest.param(PLIFParams(), marks=pytest.mark.slow)],
                         ids=["lif", "plif"])   # 28-36 s each; LIF/PLIF gradients are checked in float32 by default
def test_lif_and_plif_under_every_exact_loop(x64, neuron):
    """Every exact low-memory loop with the ordinary neurons (the most used ones), float64, VGG and ResNet,
    including PLIF's learnable time constants."""
    for name in ("vgg_tiny", "resnet_tiny"):
        graphdef, params, stats = nn.split(nn.create_model(name, neuron=neuron))
        params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
        stats = jax.tree.map(lambda a: a.astype(jnp.float64), stats)
        images = jax.random.normal(jax.random.key(2), (3, 8, 8, 3), jnp.float64)
        data = (graphdef, params, stats, images, jnp.arange(3))
        ref = grads(*data, "bptt", timesteps=5)
        labels = ("checkpoint", "anchored", "anchored+closed_form", "anchored+low_memory",
                  "anchored+closed_form+keep_convs") if name == "vgg_tiny" else \
            ("anchored+closed_form", "anchored+closed_form+keep_convs")   # shortcuts: the replayed convs too
        for label in labels:
            got = grads(*data, label, timesteps=5)
            assert bench.gradient_error(got, ref)["relative_error"] <= 1e-12, (name, label)
        if neuron.kind == "plif":
            w = [a for path, a in jax.tree_util.tree_leaves_with_path(got) if "theta" in str(path)]
            assert len(w) == (2 if name == "vgg_tiny" else 5) and all(float(jnp.abs(g)) > 0 for g in w)


@pytest.mark.parametrize("name,encoding", [("vgg_tiny", "direct"),
                                           pytest.param("resnet_tiny", "frames", marks=pytest.mark.slow)])   # 49 s
def test_reverse_loop_on_networks_is_exact(x64, name, encoding):
    """Acceptance: the time-reversing strategy against BPTT of the same fixed-point network, float64 <= 1e-10, with
    groups 2 and 4, and with every rebuilt neuron input perturbed by 4 float32 ulps (recomputation on other
    hardware): still exact."""
    for neuron in (ExactRevLIFParams(), ExactRevLIFParams(groups=4)):
        graphdef, params, stats = nn.split(nn.create_model(name, neuron=neuron))
        params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
        stats = jax.tree.map(lambda a: a.astype(jnp.float64), stats)
        shape = (3, 8, 8, 3) if encoding == "direct" else (7, 3, 8, 8, 3)
        data = (graphdef, params, stats, jax.random.normal(jax.random.key(3), shape, jnp.float64), jnp.arange(3))
        ref = grads(*data, "bptt", timesteps=7, encoding=encoding)
        for strategy in (Strategy("reverse"), Strategy("reverse", rebuild_noise=4 * 2.0**-23)):
            got = grads(*data, strategy, timesteps=7, encoding=encoding)
            assert bench.gradient_error(got, ref)["relative_error"] <= 1e-10, (neuron.groups, strategy)


def test_reverse_loop_refuses_to_return_a_wrong_gradient():
    """Rebuilt inputs perturbed far beyond half a fixed-point unit: the reversal is no longer exact, and the
    gradients are NaN with a warning instead of silently wrong."""
    data = user_model(ExactRevLIFParams())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = jax.block_until_ready(grads(*data, Strategy("reverse", rebuild_noise=1e-3)))
    assert all(np.all(np.isnan(a)) for a in jax.tree.leaves(g))
    assert any("reversal lost exactness" in str(w.message) for w in caught)
    assert all(np.all(np.isfinite(a)) for a in jax.tree.leaves(grads(*data, "reverse")))


def test_model_errors_are_named():
    with pytest.raises(ValueError, match="groups=3 does not divide the width of spike1 \\(8\\)"):
        TinySNN(ExactRevLIFParams(groups=3), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="spike1: str is not a neuron's params"):
        nn.Neuron("lif", 8, "spike1")

    class Twice(TinySNN):
        def step(self, x, ctx):
            h = ctx.bn_neuron(self.bn1, self.spike1, ctx.conv(self.conv1, x))
            return self.readout(ctx.bn_neuron(self.bn2, self.spike1, ctx.conv(self.conv2, h)).mean((1, 2)))

    graphdef, params, stats = nn.split(Twice(LIFParams(), rngs=nnx.Rngs(0)))
    with pytest.raises(ValueError, match="neuron spike1 was called twice in one step"):
        network.forward(graphdef, params, stats, jnp.ones((2, 8, 8, 3)), timesteps=2)


@pytest.mark.parametrize("method, neuron", [("ottt", LIFParams()), ("sltt", LIFParams()), ("dsr", DSRIFParams()),
                                            ("dsr", RevLIFParams())], ids=["ottt", "sltt", "dsr", "revdsr"])
def test_a_users_model_trains_under_every_training_method(method, neuron):
    """The same user model under the online and rate methods: ctx.linear traces its readout, and the rates mode
    folds T into its batch axis without the model knowing."""
    graphdef, params, stats, images, labels = user_model(neuron)
    chosen = methods.Method(method, trace_decay=0.5 if method == "ottt" else None)
    optimizer = optax.adam(1e-2)
    step = jax.jit(train.make_train_step(graphdef, optimizer, timesteps=4, method=chosen))
    opt_state, losses = optimizer.init(params), []
    for _ in range(40):   # LIF with a hard reset learns this batch more slowly than the exact neuron, also by BPTT
        params, stats, opt_state, metrics = step(params, stats, opt_state, images, labels)
        losses.append(float(metrics["loss"]))
    assert losses[-1] < 0.5 * losses[0], losses
