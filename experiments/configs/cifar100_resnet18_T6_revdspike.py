"""Table 2 row: RevDspike, ResNet-18, T=6, CIFAR-100 (paper: 73.28 % test accuracy, 2.14 GiB; Dspike 74.24 %, 5.78 GiB).

As cifar10_resnet18_T6_revdspike.py on CIFAR-100.

Command (GPU; CIFAR prepared with `revsnn prepare cifar10|cifar100 --raw ARCHIVE --data-dir DIR`)::

    revsnn train --config experiments/configs/cifar100_resnet18_T6_revdspike.py \
        --data-dir DIR --workdir runs/c100_r18_T6_revdspike

Check first, without data (compiles one step at batch 128 and prints its compiled memory)::

    revsnn train --config experiments/configs/cifar100_resnet18_T6_revdspike.py --dry-run

Expected: about 73-74 % test accuracy (paper 73.28 %). Memory as the CIFAR-10 row (the head's 100 classes add
0.2 MiB). GPU time: not measured here.
"""


def get_config() -> dict:
    return {"dataset": "cifar100", "model": "resnet18", "timesteps": 6, "strategy": "inverse_grad", "neuron": "rev",
            "surrogate": "dspike", "optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9, "weight_decay": 5e-4,
            "epochs": 300, "batch_size": 128, "augment": True}
