"""NIR export checked end to end on the registered models: write, read, compare, run elsewhere, run here again.

For each model x neuron: random weights and BatchNorm running statistics far from their initial values, then
``to_nir`` -> ``nir.write`` -> ``nir.read`` -> field-by-field comparison -> (a) the independent numpy interpreter of
the tests (``tests/nir_interpreter.py``, written from NIR's node semantics) and (b) ``from_nir`` here, both against
the flax model in evaluation mode on the same random inputs (T steps, one input per step). Reported: nodes, edges,
file size, differing fields, whether every spike of every LIF node agrees with the interpreter, the largest logit
error of each, and the refusals of the reversible neurons.

    python experiments/nir_roundtrip.py --out docs/results    # ~3 min on 2 CPU cores; writes nir_roundtrip.{csv,json}
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import nir  # noqa: E402
import nir_interpreter  # noqa: E402
from nir_fixtures import randomize_batch_norm  # noqa: E402

from revsnn_jax import ExactRevLIFParams, InputError, LIFParams, PLIFParams, RevLIFParams  # noqa: E402
from revsnn_jax import nir as rnir  # noqa: E402
from revsnn_jax.bench import report  # noqa: E402
from revsnn_jax.nn.models import create_model  # noqa: E402

DT = 1e-3
CASES = [("vgg_tiny", "lif", 8, 1), ("vgg_tiny", "plif", 8, 1), ("resnet_tiny", "lif", 8, 2),
         ("vgg11", "lif", 32, 3), ("vgg11", "plif", 32, 3), ("resnet18", "lif", 32, 3), ("resnet19", "lif", 32, 3)]
NEURONS = {"lif": LIFParams(tau=2.0), "plif": PLIFParams(tau=2.0), "rev": RevLIFParams(),
           "exact_rev": ExactRevLIFParams()}


def run_case(name, neuron, size, channels, timesteps, batch, scratch):
    model = create_model(name, num_classes=10, in_channels=channels, neuron=NEURONS[neuron], seed=0)
    randomize_batch_norm(model, 1, bias_mean=0.8)
    frames = np.random.default_rng(2).normal(0.5, 1.0, (timesteps, batch, size, size, channels)).astype(np.float32)
    t0 = time.perf_counter()
    graph = rnir.to_nir(model, input_shape=(size, size, channels), dt=DT, timesteps=timesteps, encoding="frames")
    path = os.path.join(scratch, f"{name}-{neuron}.nir")
    nir.write(path, graph)
    read = nir.read(path)
    export_s = time.perf_counter() - t0
    outs, spikes = rnir.layer_outputs(model, frames)
    logits = outs.mean(0)
    ref_outs, ref_spikes = nir_interpreter.run(read, frames.transpose(0, 1, 4, 2, 3), DT)
    mismatched = 0
    for node, s in spikes.items():
        ref = ref_spikes[node]
        mismatched += int(np.sum(s != (ref.transpose(0, 1, 3, 4, 2) if ref.ndim == 5 else ref)))
    here = rnir.compare_runs(model, rnir.from_nir(read), frames)
    first = here["first_difference"] or {}
    scale = float(np.abs(logits).max())
    return {"model": name, "neuron": neuron, "input": f"{size}x{size}x{channels}", "timesteps": timesteps,
            "batch": batch, "nodes": len(read.nodes), "edges": len(read.edges), "file_bytes": os.path.getsize(path),
            "fields_differing": len(rnir.compare_graphs(graph, read)), "lif_nodes": len(spikes),
            "spikes_compared": int(sum(s.size for s in spikes.values())),
            "spike_rate": float(np.mean([s.mean() for s in spikes.values()])), "spikes_mismatched": mismatched,
            "interpreter_max_logit_error": float(np.abs(ref_outs.mean(0) - logits).max()),
            "from_nir_max_logit_error": here["max_logit_error"],
            "from_nir_spikes_mismatched": here["spikes_mismatched"],
            "from_nir_first_difference": f"{first['node']} step {first['step']} margin {first['margin']:.1e}"
            if first else "", "max_logit": scale,
            "export_write_read_seconds": round(export_s, 2)}


def refusals():
    rows = []
    for neuron in ("rev", "exact_rev"):
        model = create_model("vgg_tiny", in_channels=1, neuron=NEURONS[neuron])
        try:
            rnir.to_nir(model, input_shape=(8, 8, 1))
            message = "exported (unexpected)"
        except InputError as e:
            message = str(e)
        rows.append({"neuron": neuron, "refused_with": message})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--out", default=None, help="folder for nir_roundtrip.csv/json")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for case in CASES:
            print(f"{case[0]} ({case[1]})...", file=sys.stderr, flush=True)
            rows.append(run_case(*case, args.timesteps, args.batch_size, scratch))
            r = rows[-1]
            print(f"  {r['nodes']} nodes, {r['spikes_compared']:,} spikes (rate {r['spike_rate']:.2f}), "
                  f"{r['spikes_mismatched']} mismatched; logit error: interpreter "
                  f"{r['interpreter_max_logit_error']:.1e}, "
                  f"from_nir {r['from_nir_max_logit_error']:.1e} (max |logit| {r['max_logit']:.3g})",
                  file=sys.stderr, flush=True)
    from importlib.metadata import version
    info = {**report.meta(argv), "dt": DT, "nir": version("nir"), "refusals": refusals()}
    info["command"] = "python experiments/nir_roundtrip.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(report.table(rows, ["model", "neuron", "input", "nodes", "spikes_compared", "spike_rate",
                              "spikes_mismatched", "fields_differing", "interpreter_max_logit_error",
                              "from_nir_spikes_mismatched", "from_nir_first_difference", "max_logit"]))
    report.write(rows, args.out, "nir_roundtrip", info)
    # Exit 1 if the export is wrong somewhere: a field lost in the file, or the independent interpreter disagreeing.
    return 0 if all(r["spikes_mismatched"] == 0 and r["fields_differing"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
