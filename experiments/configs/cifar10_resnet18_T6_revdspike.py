"""Table 2 row: RevDspike, ResNet-18, T=6, CIFAR-10 (paper: 93.43 % test accuracy, 2.14 GiB; Dspike 94.25 %, 5.78 GiB).

The paper's reversible neuron with the Dspike surrogate (tanh family, half-width 1/2) whose temperature is searched
at the start of every epoch against finite differences of the first layer (revsnn_jax.methods.dspike; 3,456 extra
forward passes a search for the 3x3x3->64 stem), trained with the exact low-memory strategy inverse_grad.

Command (GPU; CIFAR prepared with `revsnn prepare cifar10|cifar100 --raw ARCHIVE --data-dir DIR`)::

    revsnn train --config experiments/configs/cifar10_resnet18_T6_revdspike.py \
        --data-dir DIR --workdir runs/c10_r18_T6_revdspike

Check first, without data (compiles one step at batch 128 and prints its compiled memory)::

    revsnn train --config experiments/configs/cifar10_resnet18_T6_revdspike.py --dry-run

Expected: about 93-94 % test accuracy (the paper's 93.43 %; the gradients equal BPTT's to float32 rounding, so
the accuracy is Dspike's own up to the reversible neuron). Memory: revsnn bench memory --model resnet18
--timesteps 6 --batch-size 128 --configs bptt,inverse_grad,inverse_grad+low_memory (experiments/README.md). GPU
time: not measured here (no GPU was lent); the search costs about 0.75 of an epoch each time it runs at batch 128.
"""


def get_config() -> dict:
    return {"dataset": "cifar10", "model": "resnet18", "timesteps": 6, "strategy": "inverse_grad", "neuron": "rev",
            "surrogate": "dspike", "optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9, "weight_decay": 5e-4,
            "epochs": 300, "batch_size": 128, "augment": True}
