"""Table 2 baseline: ND at 90 % sparsity, ResNet-19, T=5, Tiny-ImageNet (paper's table: 49.25 %, 5.11 GiB).

Plain LIF neurons (ATan surrogate), plain BPTT, resnet19_nd, sparse training as in tiny_imagenet_resnet19_T5_revnd.py.

Command (GPU; Tiny-ImageNet prepared with `revsnn prepare tiny_imagenet --raw tiny-imagenet-200/ --data-dir DIR`)::

    revsnn train --config experiments/configs/tiny_imagenet_resnet19_T5_nd_bptt.py \
        --data-dir DIR --workdir runs/tin_r19_T5_nd

Check first, without data (compiles one step at batch 128 and prints its compiled memory)::

    revsnn train --config experiments/configs/tiny_imagenet_resnet19_T5_nd_bptt.py --dry-run

Expected: about 49 % test accuracy (paper 49.25 %). Memory: BPTT's row of revsnn bench memory --model
resnet19_nd --input-size 64 --timesteps 5 --batch-size 128. GPU time: not measured here.
"""


def get_config() -> dict:
    return {"dataset": "tiny_imagenet", "model": "resnet19_nd", "timesteps": 5, "strategy": "bptt", "neuron": "lif",
            "surrogate": "atan", "sparse_final_density": 0.1, "sparse_initial_density": 0.5, "optimizer": "sgd",
            "learning_rate": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "epochs": 300, "batch_size": 128,
            "augment": True}
