"""Whole networks: model structure, the time loop's strategies against BPTT, memory growth, clear errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from revsnn_jax import LIFParams, RevLIFParams, Strategy, nn, train
from revsnn_jax import bench
from revsnn_jax.bench.network import NetworkConfig, train_step_for
from revsnn_jax.nn import network
from helpers import images, tiny_model

CONFIGS = ("checkpoint", "reversible", "inverse_grad", "reversible+low_memory", "inverse_grad+low_memory",
           "reversible+keep_convs", "inverse_grad+keep_convs", "inverse_grad+binomial")


def model_and_data(name, dtype=jnp.float32, encoding="direct", timesteps=8, batch=4, seed=0, neuron=nn.NeuronSpec()):
    graphdef, params, stats = tiny_model(name, neuron, seed=seed, dtype=dtype)
    inputs = images(batch, seed=seed + 1, timesteps=None if encoding == "direct" else timesteps, dtype=dtype)
    labels = jnp.arange(batch) % 10
    return graphdef, params, stats, inputs, labels


def gradients(label, graphdef, params, stats, inputs, labels, timesteps=8, encoding="direct", anchor_every=None):
    strategy = Strategy.parse(label, anchor_every=anchor_every if label.startswith(("reversible", "inverse_grad"))
                              else None) if isinstance(label, str) else label

    def loss(params, inputs):
        logits, _ = network.forward(graphdef, params, stats, inputs, timesteps=timesteps, strategy=strategy,
                                    encoding=encoding)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    return jax.jit(jax.grad(loss, (0, 1)))(params, inputs)


def test_registry_and_unknown_model():
    assert {"vgg11", "vgg13", "vgg16", "vgg19", "resnet18", "resnet19", "resnet34", "resnet50",
            "resnet101"} <= set(nn.MODELS)
    with pytest.raises(ValueError, match="unknown model 'vgg12'; valid models: vgg11, vgg13"):
        nn.create_model("vgg12")


def test_parameter_tree_and_output_shapes():
    model = nn.create_model("vgg_tiny", num_classes=7)
    _, params, stats = nn.split(model)
    kernels = [a.shape for a in jax.tree.leaves(params) if a.ndim == 4]
    assert kernels == [(3, 3, 3, 8), (3, 3, 8, 16)]
    assert len(jax.tree.leaves(stats)) == 4                      # mean and var of two BatchNorms
    graphdef, params, stats = nn.split(model)
    logits, step_stats = network.forward(graphdef, params, stats, jnp.ones((2, 8, 8, 3)), timesteps=3)
    assert logits.shape == (2, 7)
    assert [m.shape for m, _ in step_stats.values()] == [(3, 8), (3, 16)]
    assert list(step_stats) == ["bns.0", "bns.1"]                # keyed by module path
    resnet = nn.create_model("resnet_tiny")
    g, p, s = nn.split(resnet)
    logits, step_stats = network.forward(g, p, s, jnp.ones((5, 2, 8, 8, 3)), timesteps=5, encoding="frames")
    assert logits.shape == (2, 10)
    assert len(step_stats) == sum(isinstance(m, nn.BatchNorm) for _, m in nnx.iter_graph(resnet)) == 6


@pytest.mark.parametrize("name", ["vgg_tiny", pytest.param("resnet_tiny", marks=pytest.mark.slow)])   # 46 s
def test_float32_network_gradients_match_bptt(name):
    data = model_and_data(name)
    ref = gradients("bptt", *data)
    for label in CONFIGS:
        err = bench.gradient_error(gradients(label, *data)[0], ref[0])
        assert err["cosine"] >= 0.9999, (label, err)
        assert err["relative_error"] <= 1e-3, (label, err)
        assert err["relative_error"] <= 1e-5, (label, err)     # measured ~1e-7; catch regressions


@pytest.mark.parametrize("name,encoding", [
    # slow (28-107 s each): every strategy's network gradient is checked in float32 by default above, float64
    # exactness of the loops in test_time_loop, ResNet in test_models (LIF, float64)
    pytest.param("vgg_tiny", "direct", marks=pytest.mark.slow),
    pytest.param("vgg_tiny", "frames", marks=pytest.mark.slow),
    pytest.param("resnet_tiny", "direct", marks=pytest.mark.slow),
    pytest.param("resnet_tiny", "frames", marks=pytest.mark.slow),
])
def test_float64_network_gradients_match_bptt(x64, name, encoding):
    data = model_and_data(name, jnp.float64, encoding, timesteps=7)
    ref = gradients("bptt", *data, timesteps=7, encoding=encoding)
    # Every anchor spacing is checked on a toy step (tests/test_time_loop.py); here, on networks: every
    # configuration at the default spacing (T=7: segments of 3 with padding), and one segment per step and one for
    # all steps for one configuration of each kind.
    spacings = {"reversible": (2, 7), "inverse_grad+low_memory": (2, 7), "reversible+keep_convs": (2, 7)}
    for label in CONFIGS:
        for anchor_every in (None, *spacings.get(label, ())):
            got = gradients(label, *data, timesteps=7, encoding=encoding, anchor_every=anchor_every)
            assert bench.gradient_error(got, ref)["relative_error"] <= 1e-8, (label, anchor_every)


def test_training_step_updates_running_statistics_and_learns():
    graphdef, params, stats, inputs, labels = model_and_data("vgg_tiny", batch=8)
    optimizer = optax.adam(1e-2)
    step = jax.jit(train.make_train_step(graphdef, optimizer, timesteps=4, strategy="inverse_grad"))
    opt_state = optimizer.init(params)
    losses = []
    new_stats = stats
    for _ in range(15):
        params, new_stats, opt_state, metrics = step(params, new_stats, opt_state, inputs, labels)
        losses.append(float(metrics["loss"]))
    assert losses[-1] < 0.5 * losses[0]
    moved = [float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(new_stats), jax.tree.leaves(stats))]
    assert min(moved) > 0
    # Evaluation uses the running statistics: same logits for a batch and for one of its images alone.
    full, _ = network.forward(graphdef, params, new_stats, inputs, timesteps=4, train=False)
    one, _ = network.forward(graphdef, params, new_stats, inputs[:1], timesteps=4, train=False)
    np.testing.assert_allclose(full[:1], one, rtol=1e-4, atol=1e-5)


@pytest.mark.slow   # ~80 s: five compiles; docs/results/memory_vgg11_T4-8-16-32-64_B32.csv measures the same at scale
def test_reversible_memory_grows_slowly_with_t():
    """Acceptance: VGG-11, batch 32, the reversible strategy's temp bytes at T=32 are at most 2x those at T=4."""
    def temp(t, label):
        step, args, _ = train_step_for("vgg11", NetworkConfig.parse(label), timesteps=t, batch_size=32)
        return bench.memory_stats(step.lower(*args).compile())["temp_bytes"]

    t4, t32 = temp(4, "inverse_grad"), temp(32, "inverse_grad")
    assert t32 <= 2 * t4, (t4, t32)
    assert temp(32, "bptt") >= 5 * t32
    # The exact time reversal grows by its kept bits only: 5 bits for each of VGG-11's 151,552 neurons per
    # sample, 32 samples, 28 more steps (plus at most 2% for layout).
    r4, r32 = temp(4, "exact_rev:reverse"), temp(32, "exact_rev:reverse")
    assert r32 - r4 <= 1.02 * 28 * 151_552 * 32 * 5 / 8, (r4, r32)
    assert r32 < t32


@pytest.mark.slow
def test_vgg19_memory_ratio_at_paper_scale():
    """Acceptance: VGG-19, T=20, batch 128: bptt / best reversible >= 10 (compile only, ~1 minute)."""
    def temp(label):
        step, args, _ = train_step_for("vgg19", NetworkConfig.parse(label), timesteps=20, batch_size=128)
        return bench.memory_stats(step.lower(*args).compile())["temp_bytes"]

    assert temp("bptt") / temp("inverse_grad+low_memory") >= 10


@pytest.mark.parametrize("call,message", [
    (lambda: nn.create_model("vgg_tiny", neuron=nn.NeuronSpec("rev", RevLIFParams(groups=3))),
     r"groups=3 does not divide the width of conv1 \(8\)"),
    (lambda: nn.NeuronSpec("izhikevich"), "unknown neuron 'izhikevich'; valid neurons: rev, lif, plif, exact_rev"),
    (lambda: nn.NeuronSpec("lif", RevLIFParams()), "neuron 'lif' takes LIFParams"),
    (lambda: nn.check_inputs(nn.create_model("vgg_tiny"), jnp.ones((2, 6, 6, 3)), 4, "direct", "vgg_tiny"),
     "vgg_tiny downsamples by 4: input height and width must be multiples of 4, got 6x6"),
    (lambda: nn.check_inputs(nn.create_model("vgg_tiny"), jnp.ones((2, 8, 8, 1)), 4, "direct"),
     "takes 3 input channels, got 1"),
    (lambda: nn.check_inputs(nn.create_model("vgg_tiny"), jnp.ones((3, 2, 8, 8, 3)), 4, "frames"),
     "event frames have 3 timesteps but timesteps=4"),
    (lambda: nn.check_inputs(nn.create_model("vgg_tiny"), jnp.ones((2, 8, 8, 3)), 4, "frames"),
     r"encoding='frames' takes inputs \[T, B, H, W, C\]"),
    (lambda: NetworkConfig.parse("bptt+low_memory"), "unknown configuration 'bptt\\+low_memory'"),
    (lambda: NetworkConfig.parse("exact_rev[alpha=x]:reverse"), "alpha='x' is not a number or true/false"),
    (lambda: NetworkConfig.parse("exact_rev[alpha]:reverse"), "neuron settings are name=value, got 'alpha'"),
    (lambda: NetworkConfig.parse("exact_rev[gamma=1]:reverse"), "unexpected keyword argument 'gamma'"),
])
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_configurations_carry_neuron_settings():
    from revsnn_jax.bench.network import split_labels
    labels = split_labels("bptt,exact_rev[alpha=0.25,snap=false]:reverse,lif:anchored")
    assert labels == ["bptt", "exact_rev[alpha=0.25,snap=false]:reverse", "lif:anchored"]
    cfg = NetworkConfig.parse(labels[1])
    assert (cfg.neuron.alpha, cfg.neuron.snap, cfg.strategy.loop) == (0.25, False, "reverse")
    assert cfg.neuron.keep_bits < NetworkConfig.parse("exact_rev:reverse").neuron.keep_bits


def test_loop_options_are_checked():
    with pytest.raises(ValueError, match="keep_convs applies to the anchored loop, not 'bptt'"):
        Strategy.parse("bptt", keep_convs=True)
    with pytest.raises(ValueError, match="choose one of low_memory"):
        Strategy.parse("inverse_grad", keep_convs=True, low_memory=True)


@pytest.mark.slow   # 23 s; keep_convs gradients: test_float32_network_gradients_match_bptt
def test_keep_convs_trades_memory_for_a_forward_pass():
    """keep_convs holds more than the default (a second record of the segment) and less than checkpoint, whose
    backward it matches in work (no convolution forward is run twice)."""
    def temp(label):
        step, args, _ = train_step_for("vgg11", NetworkConfig.parse(label), timesteps=9, batch_size=8)
        return bench.memory_stats(step.lower(*args).compile())["temp_bytes"]

    assert temp("inverse_grad") < temp("inverse_grad+keep_convs") < temp("checkpoint")


def test_unknown_strategy_raises_and_lif_takes_every_strategy_but_reverse():
    graphdef, params, stats, inputs, _ = model_and_data("vgg_tiny")
    with pytest.raises(ValueError, match="unknown strategy 'adjoint'; valid strategies: bptt, checkpoint"):
        network.forward(graphdef, params, stats, inputs, timesteps=2, strategy="adjoint")
    lif = nn.NeuronSpec("lif", LIFParams())
    graphdef, params, stats, inputs, _ = model_and_data("vgg_tiny", neuron=lif)
    with pytest.raises(ValueError, match=r"needs a neuron with an exact inverse .*\(lif\) has none"):
        jax.grad(lambda p: network.forward(graphdef, p, stats, inputs, timesteps=2, strategy="reverse")[0].sum())(
            params)
    logits, _ = network.forward(graphdef, params, stats, inputs, timesteps=2, strategy="checkpoint")
    assert logits.shape == (4, 10)


def test_updating_running_statistics_leaves_its_input_unchanged():
    """A pure function: skip-step keeps the old statistics for a non-finite step, so they must survive the update
    (an in-place update of the merged model once changed them under the caller)."""
    graphdef, params, stats = nn.split(nn.create_model("vgg_tiny", in_channels=1))
    before = jax.tree.map(np.array, stats)
    _, step_stats = network.forward(graphdef, params, stats, jnp.ones((4, 8, 8, 1)), timesteps=2)
    new = network.update_batch_stats(graphdef, params, stats, step_stats)
    jax.tree.map(np.testing.assert_array_equal, jax.tree.map(np.array, stats), before)
    assert any(np.abs(np.asarray(a) - b).max() > 0 for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(before)))
