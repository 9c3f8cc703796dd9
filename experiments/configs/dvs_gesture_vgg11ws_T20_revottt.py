"""Table 1 row: RevOTTT, DVS128-Gesture, VGG(sWS), T=20 (paper: 96.75 %, 21.16 GiB vs OTTT's 28.44 GiB).

OTTT_A as in ``dvs_gesture_vgg11ws_T20_ottt.py`` with the paper's reversible neuron (tau 2, alpha 0.15, 2 groups).
The paper does not say what RevOTTT traces or with which decay; the neuron's output Y is traced with the default
decay chosen by measuring each choice's gradient cosine against BPTT (``docs/training_methods.md``,
``python experiments/online_cosine.py``).

Command (GPU; data prepared as for the OTTT row)::

    revsnn train --config experiments/configs/dvs_gesture_vgg11ws_T20_revottt.py --data-dir DIR \
        --workdir runs/gesture_revottt

Expected: within about a point of OTTT's accuracy (not run here: no GPU and no DVS data on this machine). Memory:
flat in T and the same order as OTTT's (``experiments/README.md``): the online method stores no time history, so
the reversible neuron has no O(T) term to remove. GPU time: not measured here.
"""


def get_config() -> dict:
    return {"dataset": "dvs_gesture", "model": "vgg11_ws", "timesteps": 20, "method": "ottt", "online_loss_mix": 0.001,
            "neuron": "rev", "optimizer": "adamw", "learning_rate": 1e-3, "weight_decay": 0.0, "epochs": 300,
            "batch_size": 16, "augment": False}
