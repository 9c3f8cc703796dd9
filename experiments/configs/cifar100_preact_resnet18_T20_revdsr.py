"""Table 2 row: RevDSR, CIFAR-100, PreAct-ResNet-18, T=20 (paper: 5.73 GiB vs DSR's 25.11 GiB).

DSR with the paper's reversible neuron (tau 2, alpha 0.15, 2 groups) and the rate mapping this project derives for
it (``revsnn_jax.neurons.dsr.rev_rate_map``: the groups' chain of clamps with the onset and saturation of the
neuron's fixed points, docs/training_methods.md), each BatchNorm + neuron recomputed in the backward
(``low_memory``). Otherwise as ``cifar100_preact_resnet18_T20_dsr.py``.

Command (GPU; CIFAR prepared with `revsnn prepare cifar100 --raw ARCHIVE --data-dir DIR`)::

    revsnn train --config experiments/configs/cifar100_preact_resnet18_T20_revdsr.py --data-dir DIR \
        --workdir runs/cifar100_revdsr

Expected: within a few points of DSR (the mapping is a first-order fit of a staircase; not run here: no GPU and
no CIFAR on this machine). Memory: see experiments/README.md. GPU time: not measured here.
"""


def get_config() -> dict:
    return {"dataset": "cifar100", "model": "preact_resnet18", "timesteps": 20, "method": "dsr", "neuron": "rev",
            "low_memory": True, "optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9, "weight_decay": 5e-4,
            "epochs": 200, "batch_size": 128, "augment": True}
