"""Table 2 row: DSR as published, CIFAR-100, PreAct-ResNet-18, T=20 (the RevSNN paper's row: 78.21 %;
DSR 25.11 GiB, RevDSR 5.73 GiB).

DSR's LIF neuron (threshold 0.3 trainable per layer and projected to >= 0.0005, firing fraction 0.3, tau 1,
dt 0.05, threshold gradient scaled by dt as in the authors' code) with the rate-mapping backward; the network runs
once on all 20 steps folded into the batch (BatchNorm over all of them); DSR's PreAct-ResNet-18 (spikes on the
identity shortcut, BN + neuron after the linear head: rate logits). SGD lr 0.1, momentum 0.9, weight decay 5e-4
(thresholds included), cosine over 200 epochs, batch 128, crop + flip. Not reproduced: the authors' linear warmup
over the first 400 iterations, and their LIF readout weights the steps (exp(-(T - t) dt / tau)); ours averages
them.

Command (GPU; CIFAR prepared with `revsnn prepare cifar100 --raw ARCHIVE --data-dir DIR`)::

    revsnn train --config experiments/configs/cifar100_preact_resnet18_T20_dsr.py --data-dir DIR \
        --workdir runs/cifar100_dsr

Expected: near the row's 78.21 % (not run here: no GPU and no CIFAR on this machine). Memory:
``revsnn bench memory --model preact_resnet18 --timesteps 20 --batch-size 128 --configs dsr_lif:dsr,...``
(experiments/README.md). GPU time: not measured here.
"""


def get_config() -> dict:
    return {"dataset": "cifar100", "model": "preact_resnet18", "timesteps": 20, "method": "dsr", "neuron": "dsr_lif",
            "optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "epochs": 200,
            "batch_size": 128, "augment": True}
