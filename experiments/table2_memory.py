"""Memory of the paper's Table 2 training methods at their settings: RevDspike (ResNet-18, T=6, CIFAR) and RevND
(VGG-16 and ResNet-19, T=5, Tiny-ImageNet), batch 128, next to their non-reversible baselines.

Each figure is XLA's compiled temp memory of the row's whole training step (``revsnn train --config FILE
--dry-run``: loss, gradients, optimizer update; with the Dspike surrogate, or with the sparse masks and their
in-step drop-and-grow update), for the row's config with its neuron and strategy replaced as listed. The search
of Dspike's temperature runs outside the step (forward passes and three gradients on one batch, less memory than
a step). Command::

    python experiments/table2_memory.py --out docs/results     # about 20 minutes on 2 CPU cores (compiles only)
"""

from __future__ import annotations

import argparse
import os
import sys

from revsnn_jax import train
from revsnn_jax.bench import report

ROWS = {
    "RevDspike ResNet-18 T=6 CIFAR-10": ("cifar10_resnet18_T6_revdspike.py", "Dspike 5.78 GiB, RevDspike 2.14 GiB"),
    "RevND VGG-16 T=5 Tiny-ImageNet": ("tiny_imagenet_vgg16_T5_revnd.py",
                                       "ND dense 3.99, ND 90% 3.78, RevND 2.01 GiB"),
    "RevND ResNet-19 T=5 Tiny-ImageNet": ("tiny_imagenet_resnet19_T5_revnd.py",
                                          "ND dense 5.29, ND 90% 5.11, RevND 2.47 GiB"),
}
CONFIGS = (("lif", "bptt", "the method as published (plain LIF, BPTT)"),
           ("rev", "bptt", "the reversible neuron, BPTT"),
           ("rev", "inverse_grad", "the paper's Rev method (default exact strategy)"),
           ("rev", "inverse_grad+low_memory", "least memory"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--out", default="docs/results")
    args = parser.parse_args(argv)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
    rows = []
    for row, (config, paper) in ROWS.items():
        values = train.load_config_file(os.path.join(root, config))
        for neuron, strategy, what in CONFIGS:
            strat = strategy.split("+")
            cfg = train.TrainConfig(**{**values, "neuron": neuron, "strategy": strat[0], "batch_size": args.batch_size,
                                       "low_memory": "low_memory" in strat})
            print(f"== {row}: {neuron}:{strategy}", file=sys.stderr, flush=True)
            out = train.dry_run(cfg)
            rows.append({"row": row, "config": config, "model": out["model"], "timesteps": out["timesteps"],
                         "batch_size": args.batch_size, "neuron": neuron, "strategy": strategy, "what": what,
                         "temp_mib": round(out["temp_bytes"] / 2**20, 1), "paper": paper})
            print(f"   {rows[-1]['temp_mib']:,.1f} MiB", file=sys.stderr, flush=True)
    report.write(rows, args.out, "table2_memory", {
        "command": "python experiments/table2_memory.py " + " ".join(argv or sys.argv[1:]),
        "what": "XLA compiled temp memory (MiB) of one training step of each Table 2 config, its neuron and strategy "
                "replaced as listed (CPU compile; the same program's memory on any device)"})
    for r in rows:
        print(f"{r['row']:36s} {r['neuron']}:{r['strategy']:26s} {r['temp_mib']:>10,.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
