"""Table 1 row: DVS128-Gesture, T=20, 128x128, RevSNN with a VGG (the paper's VGG(sWS) comes from OTTT and is not
in this project yet; VGG-11 with BatchNorm stands in; paper: BPTT 137.10 GiB for its VGG at this setting).

Prepare once (DvsGesture.tar.gz unpacked under RAW: AEDAT 3.1 recordings, label CSVs, trial lists; the standard
1,176 / 288 samples; about 1.8 GiB of uint16 frames)::

    revsnn prepare dvs_gesture --raw RAW --data-dir DIR --timesteps 20

Command (GPU)::

    revsnn train --config experiments/configs/dvs_gesture_vgg11_T20.py --data-dir DIR --workdir runs/gesture_vgg11

Expected: test accuracy above 90 % (published VGG-class SNNs reach 93-97 % here; not run here: no GPU and no DVS
data on this machine). No horizontal flip: left- and right-hand gestures are different classes. Memory:
``revsnn bench memory --model vgg11 --frames --input-size 128 --timesteps 20 --batch-size 16``. GPU time: not
measured here.
"""


def get_config() -> dict:
    return {"dataset": "dvs_gesture", "model": "vgg11", "timesteps": 20, "strategy": "inverse_grad",
            "optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9, "weight_decay": 5e-4, "epochs": 200,
            "batch_size": 16, "augment": True, "augment_ops": "crop,roll", "alpha": 0.15, "groups": 2}
