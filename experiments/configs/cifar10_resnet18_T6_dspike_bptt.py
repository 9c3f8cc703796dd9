"""Table 2 baseline: Dspike (Li et al. 2021), ResNet-18, T=6, CIFAR-10 (paper's table: 94.25 %, 5.78 GiB).

Plain LIF neurons, the Dspike surrogate with its temperature search, plain BPTT: the non-reversible baseline of
the RevDspike rows (Dspike has no public code; revsnn_jax.methods.dspike states every choice made).

Command (GPU; CIFAR prepared with `revsnn prepare cifar10|cifar100 --raw ARCHIVE --data-dir DIR`)::

    revsnn train --config experiments/configs/cifar10_resnet18_T6_dspike_bptt.py \
        --data-dir DIR --workdir runs/c10_r18_T6_dspike

Check first, without data (compiles one step at batch 128 and prints its compiled memory)::

    revsnn train --config experiments/configs/cifar10_resnet18_T6_dspike_bptt.py --dry-run

Expected: about 94 % test accuracy (paper 94.25 %). Memory: BPTT's row of revsnn bench memory --model resnet18
--timesteps 6 --batch-size 128 (experiments/README.md). GPU time: not measured here.
"""


def get_config() -> dict:
    return {"dataset": "cifar10", "model": "resnet18", "timesteps": 6, "strategy": "bptt", "neuron": "lif",
            "surrogate": "dspike", "optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9, "weight_decay": 5e-4,
            "epochs": 300, "batch_size": 128, "augment": True}
