"""Table 1 row: RevSNN VGG-16, T=20, DVS-CIFAR10 (paper: 72.11 % test accuracy, 3.91 GiB).

Prepare once (the original AEDAT 2.0 files, cifar10_<class>_<i>.aedat, unpacked under RAW; 10,000 recordings,
the 9:1 per-class split on sorted file names; about 12.2 GiB of uint16 frames at 128x128, T=20)::

    revsnn prepare cifar10_dvs --raw RAW --data-dir DIR --timesteps 20

Command (GPU)::

    revsnn train --config experiments/configs/cifar10_dvs_vgg16_T20.py --data-dir DIR --workdir runs/c10dvs_vgg16

Check first, without data: ``revsnn train --config experiments/configs/cifar10_dvs_vgg16_T20.py --dry-run``.

Expected: test accuracy in the low 70s (paper 72.11 %; not run here: no GPU was lent and no DVS data can be
downloaded on this machine). Memory: ``revsnn bench memory --model vgg16 --frames --input-size 128 --timesteps 20
--batch-size 16`` gives the XLA temp bytes of this training step per strategy (docs/results). GPU time: not
measured here. The paper does not state its split; ours is documented in revsnn_jax/data/events/datasets.py.
"""


def get_config() -> dict:
    return {"dataset": "cifar10_dvs", "model": "vgg16", "timesteps": 20, "strategy": "inverse_grad",
            "optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "epochs": 200,
            "batch_size": 16, "augment": True, "augment_ops": "flip,roll", "frame_binning": "count",
            "alpha": 0.15, "groups": 2}
