"""Table 2 row: RevND, ResNet-19, T=5, Tiny-ImageNet (paper: 50.63 %, 2.47 GiB; ND dense 50.32 % / 5.29 GiB,
ND 90 % sparse 49.25 % / 5.11 GiB).

resnet19_nd: the ResNet-19 of the lottery-ticket SNN code that ND compares with (64-channel stem, three stride-2
stages 128-256-512, a 256-wide spiking linear layer before the head), not tdBN's resnet19. Sparse training and
neuron as tiny_imagenet_vgg16_T5_revnd.py.

Command (GPU; Tiny-ImageNet prepared with `revsnn prepare tiny_imagenet --raw tiny-imagenet-200/ --data-dir DIR`)::

    revsnn train --config experiments/configs/tiny_imagenet_resnet19_T5_revnd.py \
        --data-dir DIR --workdir runs/tin_r19_T5_revnd

Check first, without data (compiles one step at batch 128 and prints its compiled memory)::

    revsnn train --config experiments/configs/tiny_imagenet_resnet19_T5_revnd.py --dry-run

Expected: about 50 % test accuracy (paper 50.63 %). Memory: revsnn bench memory --model resnet19_nd
--input-size 64 --timesteps 5 --batch-size 128 (experiments/README.md). GPU time: not measured here.
"""


def get_config() -> dict:
    return {"dataset": "tiny_imagenet", "model": "resnet19_nd", "timesteps": 5, "strategy": "inverse_grad",
            "neuron": "rev", "surrogate": "atan", "sparse_final_density": 0.1, "sparse_initial_density": 0.5,
            "optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "epochs": 300,
            "batch_size": 128, "augment": True}
