"""Fig. 7 (alpha) at paper scale: CIFAR-100, ResNet-18, T=4, one run per alpha.

Commands (GPU)::

    for a in 0.05 0.1 0.2 0.4 0.6 0.8; do
      revsnn train --config experiments/configs/ablation_cifar100_alpha.py --alpha $a --data-dir DIR \\
        --workdir runs/alpha_$a --json
    done

Expected: accuracy flat within about a point for alpha 0.05-0.4 (the CPU-scale sweep,
``docs/results/ablation_alpha.csv``, shows the same shape); the paper reports its best at alpha 0.1-0.2.
Each run is a 200-epoch CIFAR-100 training (about as long as ``cifar100_resnet18_T4.py``).
"""


def get_config() -> dict:
    return {"dataset": "cifar100", "model": "resnet18", "timesteps": 4, "strategy": "inverse_grad",
            "epochs": 200, "batch_size": 128, "alpha": 0.15, "groups": 2}
