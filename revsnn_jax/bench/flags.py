"""The flags of the ``revsnn bench`` subcommands (the command line calls :mod:`revsnn_jax.bench.tables`)."""

from __future__ import annotations

from revsnn_jax.bench.network import NETWORK_CONFIGS
from revsnn_jax.nn.models import MODELS
from revsnn_jax.surrogate import SURROGATES

PAPER_NEURON = {"tau": float, "v_threshold": float, "v_reset": float, "alpha": float, "beta": float, "groups": int,
                "surrogate": str, "surrogate_width": float}
"""The paper's neuron settings a neuron benchmark takes (default: the neuron's own)."""
CONFIGS_HELP = ("comma-separated [NEURON[settings]:]STRATEGY labels (e.g. bptt,inverse_grad,exact_rev:reverse); a "
                "training method may stand for the strategy: ottt, sltt, dsr, dsr+low_memory (e.g. dsr_lif:dsr)")
MODEL_HELP = f"one of: {', '.join(MODELS)}"


def add_subcommands(sub, neuron_help, ints, positive) -> None:
    """Adds every ``revsnn bench`` subcommand to ``sub`` (``neuron_help(name)``: a neuron setting's help;
    ``ints``, ``positive``: the argument types of comma-separated and single positive integers)."""
    _neuron_layer(sub, neuron_help, ints, positive)
    _memory(sub, ints, positive)
    p = sub.add_parser("time", help="forward/backward time ratios and per-step FLOPs of a whole network")
    p.add_argument("--model", default=None, help=MODEL_HELP + " (default vgg11)")
    p.add_argument("--timesteps", type=positive, default=None, help="T (default 4)")
    p.add_argument("--batch-size", type=positive, default=16)
    _input_shape(p, positive)
    p.add_argument("--configs", default=None, help=CONFIGS_HELP + " (must include bptt and reversible)")
    p.add_argument("--repeats", type=positive, default=5, help="timed repeats per configuration (after one warm-up)")
    p.add_argument("--grid", action="store_true", help="the Fig. 6 grid: VGG-11/13/16/19 x T=4,6,8 (resumable; "
                   "writes time_grid.csv/png/json into --out, default docs/results)")
    p.add_argument("--grid-models", default=None, help="comma-separated subset of the grid's models")
    _outputs(p)
    p = sub.add_parser("step", help="one network step's pieces timed apart (where the backward's time goes)")
    p.add_argument("--model", default="vgg11", help=MODEL_HELP)
    p.add_argument("--batch-size", type=positive, default=16)
    p.add_argument("--repeats", type=positive, default=20, help="timed repeats per part (after two warm-ups)")
    _outputs(p)
    p = sub.add_parser("network-check", help="whole-network gradient error vs bptt and step-time ratios")
    p.add_argument("--model", default="vgg11", help=MODEL_HELP)
    p.add_argument("--timesteps", type=positive, default=8)
    p.add_argument("--batch-size", type=positive, default=8)
    p.add_argument("--input-size", type=positive, default=32)
    p.add_argument("--configs", default=None, help=CONFIGS_HELP)
    p.add_argument("--repeats", type=positive, default=3)
    _outputs(p)


def _input_shape(p, positive) -> None:
    p.add_argument("--input-size", type=positive, default=32, help="height and width of the (square) input")
    p.add_argument("--frames", action="store_true", help="event-frame input [T, B, H, W, 2] (a new frame every "
                   "step, as event data) instead of one static 3-channel image")


def _outputs(p) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--out", default=None, help="also write CSV and JSON into this folder")


def _neuron_layer(sub, neuron_help, ints, positive) -> None:
    def layer(p, timesteps, batch, width, many=True):
        p.add_argument("--timesteps", type=ints if many else positive, default=timesteps,
                       help="comma-separated T values" if many else "T")
        p.add_argument("--batch-size", type=positive, default=batch)
        p.add_argument("--width", type=positive, default=width, help="neurons per sample (last axis)")
        _outputs(p)

    def paper_neuron(p):
        g = p.add_argument_group("the paper's neuron")
        for name, kind in PAPER_NEURON.items():
            g.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, default=None, help=neuron_help(name),
                           **({"choices": SURROGATES} if name == "surrogate" else {}))

    p = sub.add_parser("neuron-memory", help="compiled temp bytes of one neuron layer per strategy")
    layer(p, (1, 2, 4, 8, 16, 32), 32, 1024)
    p = sub.add_parser("neuron-grad", help="gradient error of each strategy against bptt")
    layer(p, (4, 10, 20, 32), 16, 256)
    paper_neuron(p)
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--scale", type=float, default=1.0, help="inputs are N(0, scale^2)")
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("neuron-time", help="backward FLOPs per step and time ratios")
    layer(p, 8, 64, 1024, many=False)
    paper_neuron(p)
    p.add_argument("--repeats", type=positive, default=20)


def _memory(sub, ints, positive) -> None:
    p = sub.add_parser("memory", help="compiled memory of one whole-network training step per configuration")
    p.add_argument("--model", default=None, help=MODEL_HELP + " (default vgg19)")
    p.add_argument("--timesteps", type=ints, default=None, help="T, or comma-separated T values for memory vs T "
                   "(default 20)")
    p.add_argument("--batch-size", type=positive, default=128)
    _input_shape(p, positive)
    p.add_argument("--configs", default=None, help=CONFIGS_HELP + f"; default: {', '.join(NETWORK_CONFIGS)}")
    p.add_argument("--anchor-every", type=positive, default=None, help="steps between kept potentials for the "
                   "anchored configurations (default sqrt(T))")
    p.add_argument("--peak", action="store_true", help="also run one real step per config and report the device's "
                   "peak_bytes_in_use (GPU; null on CPU)")
    p.add_argument("--buffers", type=positive, default=None, metavar="N", help="also list the N largest buffers "
                   "(by shape) of each step's temp memory, from XLA's buffer assignment (one more compile each)")
    p.add_argument("--grid", action="store_true", help="the Fig. 5 grid: VGG-11..19 x T=1..20, ResNet-19..101 x "
                   "T=1,2,4,6,8,10 (resumable; writes memory_grid.csv/png into --out, default docs/results)")
    p.add_argument("--grid-models", default=None, help="comma-separated subset of the grid's models")
    _outputs(p)
