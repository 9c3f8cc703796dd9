"""NIR export and import, checked against an independent numpy interpreter (tests/nir_interpreter.py)."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import nir

from revsnn_jax import ExactRevLIFParams, InputError, LIFParams, PLIFParams, RevLIFParams
from revsnn_jax.neurons import DSRIFParams
from revsnn_jax import nir as rnir
from revsnn_jax.nn import network
from revsnn_jax.nn.models import create_model

sys.path.insert(0, os.path.dirname(__file__))
import nir_interpreter  # noqa: E402
from nir_fixtures import randomize_batch_norm  # noqa: E402

DT = 1e-3


def _run_model(model, frames):
    return rnir.layer_outputs(model, frames)


def _frames(shape, timesteps, seed, batch=3):
    rng = np.random.default_rng(seed)
    return rng.normal(0.5, 1.0, (timesteps, batch, *shape)).astype(np.float32)


def _compare_with_interpreter(model, frames, graph):
    outs, spikes = _run_model(model, frames)
    nir_outs, nir_spikes = nir_interpreter.run(graph, frames.transpose(0, 1, 4, 2, 3), DT)
    assert set(nir_spikes) == set(spikes)
    for path, s in spikes.items():
        ref = nir_spikes[path]
        ref = ref.transpose(0, 1, 3, 4, 2) if ref.ndim == 5 else ref
        assert 0.005 < s.mean() < 0.995, (path, s.mean())   # spikes that could differ (>= 100 here)
        np.testing.assert_array_equal(s, ref, err_msg=path)
    np.testing.assert_allclose(nir_outs.mean(0), outs.mean(0), rtol=1e-5, atol=1e-5 * np.abs(outs).max())
    return outs


@pytest.mark.parametrize("name,neuron", [("vgg_tiny", LIFParams(tau=2.0, v_threshold=0.8)),
                                         ("resnet_tiny", LIFParams(tau=3.0, v_reset=-0.2)),
                                         ("vgg_tiny", PLIFParams(tau=2.5)),
                                         ("vgg_tiny", LIFParams(tau=2.0, decay_input=False))])
def test_exported_graph_runs_like_the_model_in_an_independent_interpreter(name, neuron):
    model = create_model(name, num_classes=5, in_channels=2, neuron=neuron, seed=1)
    randomize_batch_norm(model, 2)
    graph = rnir.to_nir(model, input_shape=(8, 8, 2), dt=DT, timesteps=5)
    outs = _compare_with_interpreter(model, _frames((8, 8, 2), 5, 3), graph)
    # The same logits as the library's own forward pass (every strategy runs this step).
    logits, _ = network.forward(*network.split(model), jnp.asarray(_frames((8, 8, 2), 5, 3)), timesteps=5,
                                train=False, encoding="frames")
    np.testing.assert_allclose(outs.mean(0), logits, rtol=1e-6, atol=1e-6)


def test_resnet_export_has_summed_shortcut_edges_and_stride_two_padding_made_symmetric():
    model = create_model("resnet_tiny", in_channels=3, neuron=LIFParams())
    graph = rnir.to_nir(model, input_shape=(8, 8, 3), dt=DT)
    into = {}
    for s, d in graph.edges:
        into.setdefault(d, []).append(s)
    # Identity shortcut: the block's input LIF feeds its last LIF directly; projection: through a 1x1 conv.
    assert sorted(into["blocks.0.neuron2"]) == ["blocks.0.conv2", "stem_neuron"]
    assert sorted(into["blocks.1.neuron2"]) == ["blocks.1.conv2", "blocks.1.shortcut.conv"]
    # flax 'SAME' at stride 2 on 8 pixels pads (0, 1): exported as padding 1 with a zero first row and column.
    conv = graph.nodes["blocks.1.conv1"]
    assert conv.weight.shape == (16, 8, 4, 4) and tuple(conv.padding) == (1, 1) and tuple(conv.stride) == (2, 2)
    assert not conv.weight[:, :, 0, :].any() and not conv.weight[:, :, :, 0].any()
    np.testing.assert_allclose(conv.weight[:, :, 1:, 1:],   # folded in float64, rounded once
                               np.asarray(model.blocks[1].conv1.kernel[...]).transpose(3, 2, 0, 1)
                               * _bn_scale(model.blocks[1].bn1)[:, None, None, None], rtol=1e-6)
    assert tuple(graph.nodes["blocks.1.neuron2"].tau.shape) == (16, 4, 4)


def _bn_scale(bn):
    return (np.asarray(bn.scale[...], np.float64) / np.sqrt(np.asarray(bn.var[...], np.float64) + bn.eps)) \
        .astype(np.float32)


def test_parameters_map_as_documented():
    model = create_model("vgg_tiny", in_channels=1, num_classes=3, neuron=LIFParams(tau=4.0, v_threshold=0.7,
                                                                                    v_reset=0.1))
    randomize_batch_norm(model, 0)
    graph = rnir.to_nir(model, input_shape=(8, 8, 1), dt=0.5)
    lif = graph.nodes["neurons.0"]
    np.testing.assert_array_equal(lif.tau, np.full((8, 8, 8), 2.0, np.float32))   # dt / k = 0.5 * 4
    np.testing.assert_array_equal(lif.r, 1.0)
    np.testing.assert_array_equal(lif.v_leak, np.float32(0.1))
    np.testing.assert_array_equal(lif.v_reset, np.float32(0.1))
    # NIR fires at v > v_th, this library at v >= v_th: the largest float32 below 0.7 makes them agree.
    np.testing.assert_array_equal(lif.v_threshold, np.nextafter(np.float32(0.7), np.float32(0)))
    bn, conv = model.bns[0], model.convs[0]
    s = np.asarray(bn.scale[...], np.float64) / np.sqrt(np.asarray(bn.var[...], np.float64) + bn.eps)
    np.testing.assert_allclose(graph.nodes["convs.0"].bias,
                               np.asarray(bn.bias[...]) - np.asarray(bn.mean[...]) * s, rtol=1e-6)
    # The second conv follows a 2x2 pool exported as SumPool2d: it carries the 1/4.
    bn1, conv1 = model.bns[1], model.convs[1]
    s1 = np.asarray(bn1.scale[...], np.float64) / np.sqrt(np.asarray(bn1.var[...], np.float64) + bn1.eps)
    np.testing.assert_allclose(graph.nodes["convs.1"].weight,
                               (np.asarray(conv1.kernel[...]) * s1 / 4).transpose(3, 2, 0, 1), rtol=1e-6)
    assert type(graph.nodes["pool1"]).__name__ == "SumPool2d"
    # The last 2x2 pool (1/4) and the head's global average of the 2x2 map (1/4) both land in the Affine weights.
    np.testing.assert_allclose(graph.nodes["head"].weight, np.asarray(model.head.kernel[...]).T / 16, rtol=1e-6)
    assert [type(graph.nodes[n]).__name__ for n in ("pool2", "global_pool")] == ["SumPool2d", "SumPool2d"]
    assert graph.metadata["dt"] == 0.5 and graph.metadata["reset"] == "zero"
    assert tuple(graph.nodes["input"].input_type["input"]) == (1, 8, 8)
    assert tuple(graph.nodes["output"].output_type["output"]) == (3,)
    del conv


def test_write_read_and_import_round_trips(tmp_path):
    model = create_model("resnet_tiny", in_channels=2, num_classes=4, neuron=PLIFParams(), seed=3)
    randomize_batch_norm(model, 4)
    graph = rnir.to_nir(model, input_shape=(8, 8, 2), dt=DT, timesteps=3, encoding="frames")
    path = tmp_path / "model.nir"
    nir.write(path, graph)
    read = nir.read(path)
    assert rnir.compare_graphs(graph, read) == []
    assert read.metadata["dt"] == DT and str(read.metadata["encoding"]) == "frames"
    net = rnir.from_nir(read)   # dt from the metadata
    frames = _frames((8, 8, 2), 3, 5)
    want, _ = network.forward(*network.split(model), jnp.asarray(frames), timesteps=3, train=False,
                              encoding="frames")
    got, _ = network.forward(*network.split(net), jnp.asarray(frames), timesteps=3, train=False, encoding="frames")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(jnp.abs(want).max()))
    # ... and back to the same graph, field by field.
    assert rnir.compare_graphs(rnir.to_nir(net, dt=DT, timesteps=3, encoding="frames"), read) == []
    # A changed field is found.
    read.nodes["head"].bias[0] += 1.0
    assert rnir.compare_graphs(graph, read) == ["nodes.head.bias: values differ"]


def test_a_potential_exactly_at_the_threshold_fires_as_nir_says_both_ways():
    shape = np.array([3])

    def graph(v_th):
        ones = np.ones(3, np.float32)
        lif = nir.LIF(tau=ones * DT, r=ones, v_leak=0 * ones, v_threshold=np.float32(v_th) * ones)   # k = 1
        return nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": shape}), "lif": lif,
                                   "out": nir.Output(output_type={"output": shape})},
                            edges=[("in", "lif"), ("lif", "out")])

    drive = np.array([[0.5, 1.0, 1.5]], np.float32)   # the middle one lands exactly on 1.0
    for v_th, fires in ((1.0, [0, 0, 1]), (rnir.strict_threshold(1.0), [0, 1, 1])):
        g = graph(v_th)
        net = rnir.from_nir(g, dt=DT)
        ours, _ = rnir.layer_outputs(net, drive[None, :, None, None, :])
        theirs, _ = nir_interpreter.run(g, drive[None], DT)
        np.testing.assert_array_equal(ours[0, 0], fires)
        np.testing.assert_array_equal(theirs[0, 0], fires)
        assert rnir.compare_graphs(rnir.to_nir(net, dt=DT), g) == []   # and back to the same threshold
    assert net.layers[0].params.v_threshold == 1.0   # v > strict(1.0) is v >= 1.0
    # compare_runs tells a flip at the threshold (rounding) from a real difference, and finds the first one.
    frames = drive[None, :, None, None, :]
    same = rnir.compare_runs(rnir.from_nir(graph(1.0), dt=DT), rnir.from_nir(graph(1.0), dt=DT), frames)
    assert same["spikes_mismatched"] == 0 and same["first_difference"] is None and same["max_logit_error"] == 0
    flip = rnir.compare_runs(net, rnir.from_nir(graph(1.0), dt=DT), frames)
    assert flip["spikes_mismatched"] == 1
    assert flip["first_difference"] == {"node": "lif", "step": 0, "margin": 0.0, "rounding": True}
    other = rnir.compare_runs(net, rnir.from_nir(graph(0.2), dt=DT), frames)
    assert other["first_difference"]["rounding"] is False
    np.testing.assert_allclose(other["first_difference"]["margin"], 0.5)   # 1.0 - 0.5: the quiet side's potential


def _foreign_graph():
    """A graph as another library could write it: Conv2d with padding 1, LIF with r != 1 and v_leak != v_reset,
    AvgPool2d, a Flatten of a 4x2x2 map (channels-first order matters), Affine, Linear, a LIF readout."""
    rng = np.random.default_rng(7)
    shape = (4, 4, 4)

    def full(v, s=shape):
        return np.full(s, v, np.float32)

    nodes = {
        "in": nir.Input(input_type={"input": np.array([2, 4, 4])}),
        "conv": nir.Conv2d(input_shape=(4, 4), weight=rng.normal(0, 0.6, (4, 2, 3, 3)).astype(np.float32),
                           stride=1, padding=1, dilation=1, groups=1, bias=full(0.2, (4,))),
        "lif": nir.LIF(tau=full(3e-3), r=full(1.5), v_leak=full(0.2), v_threshold=full(0.9), v_reset=full(-0.1)),
        "pool": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([4, 2, 2])}, start_dim=0),
        "fc": nir.Affine(weight=rng.normal(0, 1.0, (6, 16)).astype(np.float32), bias=full(0.3, (6,))),
        "lif2": nir.LIF(tau=full(2e-3, (6,)), r=full(1.0, (6,)), v_leak=full(0.0, (6,)),
                        v_threshold=full(0.5, (6,)), v_reset=full(0.0, (6,))),
        "skip": nir.Linear(weight=rng.normal(0, 0.5, (6, 16)).astype(np.float32)),
        "out": nir.Output(output_type={"output": np.array([6])}),
    }
    edges = [("in", "conv"), ("conv", "lif"), ("lif", "pool"), ("pool", "flat"), ("flat", "fc"), ("fc", "lif2"),
             ("flat", "skip"), ("skip", "out"), ("lif2", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def test_a_graph_made_elsewhere_runs_like_the_interpreter_and_trains():
    graph = _foreign_graph()
    net = rnir.from_nir(graph, dt=DT)
    frames = np.random.default_rng(8).normal(0.4, 1.0, (6, 5, 4, 4, 2)).astype(np.float32)
    outs, spikes = _run_model(net, frames)
    ref_outs, ref_spikes = nir_interpreter.run(graph, frames.transpose(0, 1, 4, 2, 3), DT)
    for name in ("lif", "lif2"):
        s, ref = spikes[name], ref_spikes[name]
        assert 0.02 < s.mean() < 0.98, (name, s.mean())
        np.testing.assert_array_equal(s, ref.transpose(0, 1, 3, 4, 2) if ref.ndim == 5 else ref, err_msg=name)
    np.testing.assert_allclose(outs, ref_outs, rtol=1e-5, atol=1e-5)
    # Trainable: the exact low-memory strategy gives BPTT's gradients, and SGD lowers the loss.
    from revsnn_jax import train
    graphdef, params, stats = network.split(net)
    labels = jnp.arange(5) % 6
    x = jnp.asarray(frames)
    kw = dict(timesteps=6, encoding="frames")
    (loss0, _), g_bptt = train.loss_and_grads(graphdef, params, stats, x, labels, strategy="bptt", **kw)
    _, g_anch = train.loss_and_grads(graphdef, params, stats, x, labels, strategy="anchored+keep_convs", **kw)
    for a, b in zip(jax.tree.leaves(g_bptt), jax.tree.leaves(g_anch)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert any(float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(g_bptt))
    @jax.jit
    def sgd(params):
        (loss, _), grads = train.loss_and_grads(graphdef, params, stats, x, labels, strategy="anchored", **kw)
        return jax.tree.map(lambda p, g: p - 0.5 * g, params, grads), loss

    for _ in range(20):
        params, loss = sgd(params)
    assert float(loss) < 0.8 * float(loss0)


@pytest.mark.parametrize("neuron,message", [
    (RevLIFParams(), "reversible neuron (rev) has no NIR equivalent: its reset multiplies the potential"),
    (ExactRevLIFParams(), "exact_rev) has no NIR equivalent: it steps in fixed point"),
    (LIFParams(soft_reset=True), "a soft reset (V - V_th after a spike) has no NIR equivalent"),
    (DSRIFParams(), "no NIR mapping for neuron 'dsr_if'"),
])
def test_neurons_without_a_nir_form_are_refused_naming_the_layer_and_the_reason(neuron, message):
    model = create_model("vgg_tiny", in_channels=1, neuron=neuron)
    with pytest.raises(InputError, match=r"^neurons\.0: .*" + message.replace("(", r"\(").replace(")", r"\)")):
        rnir.to_nir(model, input_shape=(8, 8, 1))


def test_export_errors_are_clear():
    model = create_model("vgg_tiny", in_channels=1, neuron=LIFParams())
    with pytest.raises(InputError, match="BatchNorm in training mode"):
        rnir.to_nir(model, input_shape=(8, 8, 1), train=True)
    with pytest.raises(InputError, match=r"takes 1 input channels; input_shape \(1, 8, 8\)"):
        rnir.to_nir(model, input_shape=(1, 8, 8))
    with pytest.raises(InputError, match="downsamples by 4"):
        rnir.to_nir(model, input_shape=(6, 6, 1))
    with pytest.raises(InputError, match="dt must be"):
        rnir.to_nir(model, input_shape=(8, 8, 1), dt=0.0)
    with pytest.raises(InputError, match="no NIR export for models of type Linear"):
        rnir.to_nir(nnx.Linear(2, 2, rngs=nnx.Rngs(0)), input_shape=(8, 8, 1))


def test_import_errors_name_the_node():
    graph = _foreign_graph()
    with pytest.raises(InputError, match="records no dt"):
        rnir.from_nir(graph)
    g = _foreign_graph()
    g.nodes["lif"].tau[0, 0, 0] = 1.0
    with pytest.raises(InputError, match="NIR node 'lif': tau varies across neurons"):
        rnir.from_nir(g, dt=DT)
    shape = np.array([3])
    cuba = nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": shape}),
                               "n": nir.CubaLIF(tau_syn=np.ones(3), tau_mem=np.ones(3), r=np.ones(3),
                                                v_leak=np.zeros(3), v_threshold=np.ones(3)),
                               "out": nir.Output(output_type={"output": shape})},
                        edges=[("in", "n"), ("n", "out")])
    with pytest.raises(InputError, match="NIR node 'n' is a CubaLIF, which has no counterpart here"):
        rnir.from_nir(cuba, dt=DT)
    w = np.eye(3, dtype=np.float32)
    lif = nir.LIF(tau=np.ones(3), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3))
    loop = nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": shape}), "lif": lif,
                               "rec": nir.Linear(weight=w), "out": nir.Output(output_type={"output": shape})},
                        edges=[("in", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "out")], type_check=False)
    with pytest.raises(InputError, match="cycle through lif, rec: recurrent graphs are not supported"):   # not out
        rnir.from_nir(loop, dt=DT)
    net = rnir.from_nir(_foreign_graph(), dt=DT)
    with pytest.raises(InputError, match=r"takes inputs \[B, 4, 4, 2\]"):
        network.forward(*network.split(net), jnp.zeros((2, 4, 4, 2, 2)), timesteps=2, train=False,
                        encoding="frames")


def test_messages_use_the_right_article_and_name_the_cycle_only():
    shape = np.array([3])
    graph = nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": shape}),
                                "n": nir.IF(r=np.ones(3), v_threshold=np.ones(3)),
                                "out": nir.Output(output_type={"output": shape})},
                         edges=[("in", "n"), ("n", "out")])
    with pytest.raises(InputError, match="NIR node 'n' is an IF, which has no counterpart here"):
        rnir.from_nir(graph, dt=DT)


def test_the_initial_state_is_recorded_and_another_one_refused():
    model = create_model("vgg_tiny", in_channels=1, neuron=LIFParams(v_reset=0.2))
    graph = rnir.to_nir(model, input_shape=(8, 8, 1), dt=DT)
    assert graph.metadata["v_initial"] == 0.0 and "float32 below" in graph.metadata["threshold"]
    graph.metadata["v_initial"] = 0.2
    with pytest.raises(InputError, match=r"starts its neurons at v_initial=0.2; every neuron here starts at 0"):
        rnir.from_nir(graph)


def test_the_exact_threshold_option_writes_the_trained_threshold():
    model = create_model("vgg_tiny", in_channels=1, neuron=LIFParams(v_threshold=0.7))
    nudged = rnir.to_nir(model, input_shape=(8, 8, 1), dt=DT)
    exact = rnir.to_nir(model, input_shape=(8, 8, 1), dt=DT, exact_threshold=True)
    for name, node in exact.nodes.items():
        if type(node).__name__ == "LIF":
            assert np.all(node.v_threshold == np.float32(0.7))
            assert np.all(nudged.nodes[name].v_threshold == np.nextafter(np.float32(0.7), np.float32(0)))
    assert "as trained" in exact.metadata["threshold"]
    # the import runs NIR's v > v_th (our >= one float32 step above it), which the default export writes back as is
    again = rnir.to_nir(rnir.from_nir(exact), dt=DT)
    assert all(np.array_equal(again.nodes[n].v_threshold, exact.nodes[n].v_threshold)
               for n in exact.nodes if type(exact.nodes[n]).__name__ == "LIF")


def test_a_convolution_with_a_bias_through_ctx_conv_is_refused():
    class Biased(nnx.Module):
        def __init__(self):
            self.conv = nnx.Conv(1, 2, (3, 3), use_bias=True, rngs=nnx.Rngs(0))

        def step(self, x, ctx):
            return ctx.conv(self.conv, x).mean((1, 2))

    with pytest.raises(InputError, match="ctx.conv takes a bias-free convolution.*conv has a bias"):
        network.forward(*network.split(Biased()), jnp.zeros((1, 4, 4, 1)), timesteps=1)


def test_the_core_does_not_import_nir():
    code = ("import sys, revsnn_jax, revsnn_jax.nn, revsnn_jax.train, revsnn_jax.cli; "
            "print('nir' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cli_exports_a_trained_run_and_checks_it(tmp_path, capsys):
    from revsnn_jax import cli
    workdir = str(tmp_path / "run")
    assert cli.main(["train", "--model", "vgg_tiny", "--neuron", "lif", "--epochs", "1", "--batch-size", "128",
                     "--timesteps", "2", "--no-progress", "--workdir", workdir]) == 0
    capsys.readouterr()
    path = str(tmp_path / "run.nir")
    assert cli.main(["export", workdir, "--nir", path, "--check", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["nodes"] == 11 and report["fields_differing"] == 0
    assert report["max_logit_error"] <= 1e-5 * report["max_logit"]
    graph = nir.read(path)
    assert graph.metadata["timesteps"] == 2 and type(graph.nodes["neurons.1"]).__name__ == "LIF"
    assert cli.main(["export", workdir, "--nir", path]) == 2   # never overwrites
    assert "exists" in capsys.readouterr().err


def test_without_the_nir_package_the_error_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    from revsnn_jax import cli
    monkeypatch.setitem(sys.modules, "nir", None)   # import nir now raises ImportError
    model = create_model("vgg_tiny", in_channels=1, neuron=LIFParams())
    with pytest.raises(InputError, match=r'optional package nir: pip install "revsnn_jax\[nir\]"'):
        rnir.to_nir(model, input_shape=(8, 8, 1))
    assert cli.main(["export", str(tmp_path)]) == 2
    assert "optional package nir" in capsys.readouterr().err
