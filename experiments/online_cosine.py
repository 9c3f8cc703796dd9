"""How close OTTT's and SLTT's gradients come to BPTT's, and which trace decay RevOTTT should use.

For each neuron and trace choice, the online gradient (:mod:`revsnn_jax.methods`, OTTT_A) of digits batches is
compared with the exact gradient of the **same objective** (the per-step loss summed over T, plain BPTT through
the whole network): the cosine of the whole flattened gradient, and the mean over conv/linear kernels of each
kernel's cosine. Parameters are taken at initialisation and after a short exact training (Adam, 150 steps), so
the comparison is not only about an untrained network.

Trace choices (``decay``): ``sltt`` (no trace, lambda = 0), ``leak`` (lambda = 1 - 1/tau: OTTT as published),
``fitted`` (the reversible neuron's mean carry ``alpha + (1 - 1/tau) E[1 - Y]``, measured on the batch: with the
reset by Y not differentiated, dV^t/dV^{t-1} = (1 - Y)(1 - 1/tau) + alpha), and a grid of constants.

Command (writes ``docs/results/online_cosine.{csv,json}``)::

    python experiments/online_cosine.py --out docs/results
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

from revsnn_jax import data
from revsnn_jax.methods import online
from revsnn_jax.neurons import LIFParams, RevLIFParams
from revsnn_jax import methods
from revsnn_jax.nn import network
from revsnn_jax.nn.context import StepContext
from revsnn_jax.nn.models import create_model

NEURONS = {
    # OTTT's own neuron: no input decay, soft reset, sigmoid surrogate of sharpness 4
    "lif_ottt": LIFParams(decay_input=False, soft_reset=True, surrogate="sigmoid", surrogate_width=4.0),
    "rev": RevLIFParams(),
}


def per_step_loss(graphdef, params, batch_stats, x, y, steps):
    """The online methods' objective, sum_t L(o_t) / T, through plain BPTT (every path through time)."""
    step = network.make_step(graphdef, train=True).apply
    vs, total = network.initial_potentials(graphdef, params, batch_stats, x), 0.0
    for _ in range(steps):
        (o, vs), _ = step(params, batch_stats, x, vs)
        total = total + online.step_loss(o, y, steps)
    return total


def mean_carry(graphdef, params, batch_stats, x, steps, neuron) -> float:
    """``alpha + (1 - 1/tau) E[1 - Y]`` over every neuron and step of the batch (the reversible neuron's mean
    dV^t/dV^{t-1} with its reset not differentiated)."""
    from flax import nnx
    outs = []

    class Recording(StepContext):
        def _fire(self, layer, make_input, inputs, like):
            y = super()._fire(layer, make_input, inputs, like)
            outs.append(jnp.mean(y[0] if isinstance(y, tuple) else y))
            return y

    vs = network.initial_potentials(graphdef, params, batch_stats, x)
    for _ in range(steps):
        model = nnx.merge(graphdef, params, batch_stats)
        ctx = Recording(model, vs, True)
        model.step(x, ctx)
        vs = ctx.new_vs
    return float(neuron.alpha + (1 - 1 / neuron.tau) * (1 - np.mean(outs)))


def cosines(a, b) -> tuple[float, float]:
    fa, fb = (jnp.concatenate([jnp.ravel(v) for v in jax.tree.leaves(t)]) for t in (a, b))
    whole = float(fa @ fb / (jnp.linalg.norm(fa) * jnp.linalg.norm(fb)))
    per = []
    for (path, ga), gb in zip(jax.tree_util.tree_leaves_with_path(a), jax.tree.leaves(b)):
        if "kernel" in jax.tree_util.keystr(path) and float(jnp.linalg.norm(gb)) > 0:
            per.append(float(jnp.vdot(ga, gb) / (jnp.linalg.norm(ga) * jnp.linalg.norm(gb))))
    return whole, float(np.mean(per))


def trained(graphdef, params, batch_stats, images, labels, steps, n=150, seed=0):
    """Parameters after ``n`` Adam steps of exact training on the per-step objective."""
    opt = optax.adam(3e-3)
    grad = jax.jit(jax.grad(lambda p, x, y: per_step_loss(graphdef, p, batch_stats, x, y, steps)))
    state, rng = opt.init(params), np.random.default_rng(seed)
    for _ in range(n):
        idx = rng.choice(len(labels), 64, replace=False)
        updates, state = opt.update(grad(params, images[idx], labels[idx]), state, params)
        params = optax.apply_updates(params, updates)
    return params


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", default="4,8")
    parser.add_argument("--batches", type=int, default=4, help="batches of 64 averaged per setting")
    parser.add_argument("--grid", default="0.25,0.5,0.75", help="constant decays tried besides the named ones")
    parser.add_argument("--out", default="docs/results")
    args = parser.parse_args(argv)
    ds = data.load("digits")
    images, labels = np.asarray(ds.train_images), np.asarray(ds.train_labels)
    rows = []
    for name, neuron in NEURONS.items():
        for steps in map(int, args.timesteps.split(",")):
            g, p0, bs = network.split(create_model("vgg_digits", neuron=neuron, in_channels=1, seed=0))
            for when, params in (("init", p0), ("trained", trained(g, p0, bs, images, labels, steps))):
                batches = [(images[i * 64:(i + 1) * 64], labels[i * 64:(i + 1) * 64]) for i in range(args.batches)]
                exact = jax.jit(jax.grad(lambda p, x, y: per_step_loss(g, p, bs, x, y, steps)))
                carry = float(np.mean([mean_carry(g, params, bs, x, steps, neuron) for x, _ in batches])) \
                    if name == "rev" else None
                choices = {"sltt": None, "leak": online.leak(neuron)}
                if carry is not None:
                    choices["fitted"] = carry
                choices.update({f"const {c}": float(c) for c in args.grid.split(",")})
                for label, decay in choices.items():
                    method = methods.Method("sltt") if decay is None else methods.Method("ottt", trace_decay=decay)
                    fn = jax.jit(lambda p, x, y: methods.loss_and_grads(method, g, p, bs, x, y, timesteps=steps)[1])
                    cs = [cosines(fn(params, x, y), exact(params, x, y)) for x, y in batches]
                    row = {"neuron": name, "timesteps": steps, "params": when, "choice": label,
                           "decay": decay if decay is not None else 0.0,
                           "cosine_whole": round(float(np.mean([c[0] for c in cs])), 4),
                           "cosine_kernels_mean": round(float(np.mean([c[1] for c in cs])), 4)}
                    rows.append(row)
                    print(row, flush=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "online_cosine.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(os.path.join(args.out, "online_cosine.json"), "w") as f:
        json.dump({"command": "python experiments/online_cosine.py " + " ".join(argv or sys.argv[1:]),
                   "what": "cosine of the online gradient (OTTT_A / SLTT) with the exact gradient of the same "
                           "per-step objective, vgg_digits on digits batches of 64, mean over batches",
                   "rows": rows}, f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
