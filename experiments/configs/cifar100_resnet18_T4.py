"""Table 2 row: RevSNN ResNet-18, T=4, CIFAR-100 (paper: 71.13% test accuracy, 1.12 GiB at batch 128).

Command (GPU; CIFAR-100 prepared in array_record format under DIR, see README "Data")::

    revsnn train --config experiments/configs/cifar100_resnet18_T4.py --data-dir DIR --workdir runs/c100_r18_T4

Dry run without data: add ``--dry-run``. Expected: test accuracy about 71% (paper 71.13%). Memory and time as in
``cifar10_resnet18_T4.py`` (only the classifier differs).
"""


def get_config() -> dict:
    return {"dataset": "cifar100", "model": "resnet18", "timesteps": 4, "strategy": "inverse_grad",
            "optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "epochs": 200,
            "batch_size": 128, "augment": True, "alpha": 0.15, "groups": 2}
