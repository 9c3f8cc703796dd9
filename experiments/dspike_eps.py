"""How the finite-difference step ``eps`` of Dspike's temperature search shapes what it measures.

A spiking network's loss is piecewise constant in its weights: a central difference ``(L(w + eps) - L(w - eps)) /
2 eps`` is zero unless some spike flips, and for a large ``eps`` it measures a slope far from ``w``. For each
``eps`` this reports, on the first training batch of the digits (vgg_digits, T=4, the paper's neuron with the
dspike surrogate), at initialisation and after ``--epochs`` epochs of training: the share of first-layer weights
whose finite difference is zero, and the cosine between the finite-difference gradient and the surrogate gradient
at ``b - 0.2, b, b + 0.2`` (b = 3). What matters for the search is whether the three cosines come out in the same
order at every ``eps``: then the choice of ``b`` does not depend on it.

Command::

    python experiments/dspike_eps.py --out docs/results     # about 2 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys

import jax
import numpy as np

from revsnn_jax import data, train
from revsnn_jax.methods import dspike
from revsnn_jax.bench import report
from revsnn_jax.nn import params as params_lib


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eps", default="0.005,0.01,0.02,0.05,0.1,0.2")
    parser.add_argument("--epochs", type=int, default=5, help="training before the second measurement")
    parser.add_argument("--out", default="docs/results")
    args = parser.parse_args(argv)
    cfg = train.TrainConfig(surrogate="dspike", dspike_search_every=0).resolved()
    ds = data.load(cfg.dataset)
    mesh = train.data_mesh()
    graphdef, state, optimizer, steps = train.build(cfg, ds, mesh)
    images, labels = next(iter(data.train_batches(ds, cfg.batch_size, cfg.seed, 0, ())))
    make = functools.partial(train.make_loss, timesteps=cfg.timesteps, strategy="bptt")
    layer = params_lib.first_layer(state["params"], 1)
    rows = []

    def measure(when, state):
        grads = {}
        for b in (2.8, 3.0, 3.2):
            g = dspike.with_temperature(graphdef, state["params"], state["batch_stats"], b)
            loss = make(g)
            grads[b] = params_lib.get_leaf(jax.grad(lambda p: loss(p, state["batch_stats"], images, labels)[0])(
                state["params"]), layer)
        for eps in (float(e) for e in args.eps.split(",")):
            settings = dspike.TemperatureSearch(eps=eps)
            searcher = dspike.Searcher(graphdef, make, layer, settings)
            fd = searcher.finite_differences(state["params"], state["batch_stats"], images, labels)
            fd = np.asarray(fd)
            row = {"when": when, "eps": eps, "zero_share": float(np.mean(fd == 0)),
                   **{f"cos_b{b}": dspike.cosine(grads[b], fd) for b in grads}}
            print(row, file=sys.stderr, flush=True)
            rows.append(row)

    measure("init", state)
    step, _ = train.jit_steps(graphdef, optimizer, cfg, mesh)
    for epoch in range(args.epochs):
        for x, y in data.train_batches(ds, cfg.batch_size, cfg.seed, epoch, ()):
            p, s, o, _ = step(state["params"], state["batch_stats"], state["opt_state"], x, y.astype(np.int32))
            state = dict(state, params=p, batch_stats=s, opt_state=o)
    measure(f"after {args.epochs} epochs", state)
    report.write(rows, args.out, "dspike_eps", {
        "command": "python experiments/dspike_eps.py " + " ".join(argv or sys.argv[1:]),
        "what": "finite-difference gradient of the first layer (convs.0.kernel, 288 weights) vs the dspike "
                "surrogate gradient, digits, vgg_digits, T=4, first training batch (64)",
        "config": dataclasses.asdict(cfg)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
