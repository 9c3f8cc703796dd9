"""Table 2 row: RevSNN ResNet-18, T=4, CIFAR-10 (paper: 91.87% test accuracy, 1.101 GiB at batch 128).

Command (GPU; CIFAR-10 prepared in array_record format under DIR, see README "Data")::

    revsnn train --config experiments/configs/cifar10_resnet18_T4.py --data-dir DIR --workdir runs/c10_r18_T4

Check first, without data (compiles one step at batch 128 and prints its compiled memory)::

    revsnn train --config experiments/configs/cifar10_resnet18_T4.py --dry-run

Expected: test accuracy about 92% (paper 91.87%; same recipe as bptt, whose gradients ours equal to float32
rounding). Memory: `revsnn bench memory --model resnet18 --timesteps 4 --batch-size 128` gives the XLA temp bytes
of the whole training step (see experiments/README.md; the paper's 1.101 GiB is a GPU measurement with another
framework). Time: not measured here (no GPU was lent); expect about 1.7x a bptt step (docs/results/time_grid.csv).
"""


def get_config() -> dict:
    return {"dataset": "cifar10", "model": "resnet18", "timesteps": 4, "strategy": "inverse_grad",
            "optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "epochs": 200,
            "batch_size": 128, "augment": True, "alpha": 0.15, "groups": 2}
