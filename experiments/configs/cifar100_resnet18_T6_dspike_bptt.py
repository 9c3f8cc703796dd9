"""Table 2 baseline: Dspike, ResNet-18, T=6, CIFAR-100 (paper's table: 74.24 %, 5.78 GiB).

As cifar10_resnet18_T6_dspike_bptt.py on CIFAR-100.

Command (GPU; CIFAR prepared with `revsnn prepare cifar10|cifar100 --raw ARCHIVE --data-dir DIR`)::

    revsnn train --config experiments/configs/cifar100_resnet18_T6_dspike_bptt.py \
        --data-dir DIR --workdir runs/c100_r18_T6_dspike

Check first, without data (compiles one step at batch 128 and prints its compiled memory)::

    revsnn train --config experiments/configs/cifar100_resnet18_T6_dspike_bptt.py --dry-run

Expected: about 74 % test accuracy (paper 74.24 %). GPU time: not measured here.
"""


def get_config() -> dict:
    return {"dataset": "cifar100", "model": "resnet18", "timesteps": 6, "strategy": "bptt", "neuron": "lif",
            "surrogate": "dspike", "optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9, "weight_decay": 5e-4,
            "epochs": 300, "batch_size": 128, "augment": True}
