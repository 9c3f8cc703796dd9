"""Table 2 row: RevND, VGG-16, T=5, Tiny-ImageNet (paper: 39.73 %, 2.01 GiB; ND dense 39.45 % / 3.99 GiB,
ND 90 % sparse 39.12 % / 3.78 GiB).

The paper's reversible neuron (ATan surrogate, as the lottery-ticket SNN code ND compares with) and dynamic sparse
training (revsnn_jax.methods.sparse: masks from density 0.5 down to 0.1, i.e. 90 % sparsity, cubic schedule over the
first three quarters of training, drop-and-grow once per epoch) with the exact strategy inverse_grad. The paper does not
state RevND's sparsity; 90 % is ND's setting closest to its accuracy. VGG-16 here ends in a global average pool
and Linear(512, 200), so 64x64 inputs need no other head (the lottery-ticket code's flatten assumes 32x32; ND's
head is not published).

Command (GPU; Tiny-ImageNet prepared with `revsnn prepare tiny_imagenet --raw tiny-imagenet-200/ --data-dir DIR`)::

    revsnn train --config experiments/configs/tiny_imagenet_vgg16_T5_revnd.py \
        --data-dir DIR --workdir runs/tin_vgg16_T5_revnd

Check first, without data (compiles one step at batch 128 and prints its compiled memory)::

    revsnn train --config experiments/configs/tiny_imagenet_vgg16_T5_revnd.py --dry-run

Expected: about 39-40 % test accuracy (the paper's 39.73 %). Memory: revsnn bench memory --model vgg16
--input-size 64 --timesteps 5 --batch-size 128 (masks do not change activation memory; experiments/README.md).
GPU time: not measured here (no GPU was lent).
"""


def get_config() -> dict:
    return {"dataset": "tiny_imagenet", "model": "vgg16", "timesteps": 5, "strategy": "inverse_grad", "neuron": "rev",
            "surrogate": "atan", "sparse_final_density": 0.1, "sparse_initial_density": 0.5, "optimizer": "sgd",
            "learning_rate": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "epochs": 300, "batch_size": 128,
            "augment": True}
