"""Table 1 row: OTTT as published, DVS128-Gesture, VGG(sWS), T=20 (the RevSNN paper's row: OTTT
28.44 GiB, RevOTTT 21.16 GiB and 96.75 %).

OTTT_A (per-step loss with MSE share 0.001, gradients accumulated over T, one Adam step per batch), presynaptic
traces with lambda = 1 - 1/tau = 0.5, the first layer on the raw frames and the classifier traced (OTTT's code),
OTTT's neuron (LIF without input decay, soft reset, V_th 1, tau 2, sigmoid surrogate of sharpness 4), VGG(sWS)
(``vgg11_ws``: scaled weight standardisation, x2.74 after each neuron, no BatchNorm), raw event-count frames of
equal event count, no augmentation, Adam lr 1e-3 without weight decay, cosine over 300 epochs, batch 16.

Prepare once (DvsGesture.tar.gz unpacked under RAW)::

    revsnn prepare dvs_gesture --raw RAW --data-dir DIR --timesteps 20

Command (GPU)::

    revsnn train --config experiments/configs/dvs_gesture_vgg11ws_T20_ottt.py --data-dir DIR --workdir runs/gesture_ottt

Expected: about 96-97 % test accuracy (the row's RevOTTT: 96.75 %; not run here: no GPU and no DVS data on this
machine). Memory: ``revsnn bench memory --model vgg11_ws --frames --input-size 128 --timesteps 20 --batch-size 16
--configs "lif[decay_input=false,soft_reset=true]:ottt,..."`` (experiments/README.md): flat in T. GPU time: not
measured here.
"""

OTTT_NEURON = {"neuron": "lif", "tau": 2.0, "v_threshold": 1.0, "decay_input": False, "soft_reset": True,
               "surrogate": "sigmoid", "surrogate_width": 4.0}


def get_config() -> dict:
    return {"dataset": "dvs_gesture", "model": "vgg11_ws", "timesteps": 20, "method": "ottt", "online_loss_mix": 0.001,
            **OTTT_NEURON, "optimizer": "adamw", "learning_rate": 1e-3, "weight_decay": 0.0, "epochs": 300,
            "batch_size": 16, "augment": False}
