"""Fig. 7 (groups) at paper scale: CIFAR-100, VGG-11 with every layer a multiple of 144 wide (``vgg11_w144``),
T=4, one run per number of groups (all of 2..144 divide every layer).

Commands (GPU)::

    for g in 2 4 8 16 36 72 144; do
      revsnn train --config experiments/configs/ablation_cifar100_groups.py --groups $g --data-dir DIR \\
        --workdir runs/groups_$g --json
    done

Expected: accuracy within about a point across groups (the CPU-scale sweep, ``docs/results/ablation_groups.csv``);
the paper reports little sensitivity to the number of groups.
"""


def get_config() -> dict:
    return {"dataset": "cifar100", "model": "vgg11_w144", "timesteps": 4, "strategy": "inverse_grad",
            "epochs": 200, "batch_size": 128, "alpha": 0.15, "groups": 2}
