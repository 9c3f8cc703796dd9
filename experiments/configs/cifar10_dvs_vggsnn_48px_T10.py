"""DVS-CIFAR10 in the setting common in later papers: 48x48 frames, T=10, with the
VGGSNN of Deng et al.'s TET (64, 128, M, 256, 256, M, 512, 512, M, 512, 512, M; 48x48 needs a model with four
pools, VGG-16 has five), RevSNN.

Prepare once (frames summed down from 128x128 into 48x48 bins; about 0.9 GiB of uint16 frames)::

    revsnn prepare cifar10_dvs --raw RAW --data-dir DIR --timesteps 10 --size 48

Command (GPU)::

    revsnn train --config experiments/configs/cifar10_dvs_vggsnn_48px_T10.py --data-dir DIR --workdir runs/c10dvs_48

Expected: test accuracy around 75-80 % (what later papers report at this setting with 9:1 splits; not run here:
no GPU and no DVS data on this machine). Memory: ``revsnn bench memory --model vggsnn --frames --input-size 48
--timesteps 10 --batch-size 16``. GPU time: not measured here.
"""


def get_config() -> dict:
    return {"dataset": "cifar10_dvs", "model": "vggsnn", "timesteps": 10, "frame_size": 48,
            "strategy": "inverse_grad", "optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9,
            "weight_decay": 5e-4, "epochs": 200, "batch_size": 16, "augment": True, "augment_ops": "flip,roll",
            "alpha": 0.15, "groups": 2}
