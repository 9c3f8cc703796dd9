"""Baseline for the Table 2 row: the same ResNet-18, T=4, CIFAR-10 run trained with plain BPTT.

Command (GPU)::

    revsnn train --config experiments/configs/cifar10_resnet18_T4_bptt.py --data-dir DIR --workdir runs/c10_r18_bptt

Expected: the same accuracy as ``cifar10_resnet18_T4.py`` within seed noise (the gradients are equal up to float32
rounding); memory: see ``revsnn bench memory --model resnet18 --timesteps 4 --batch-size 128``.
"""

import importlib.util
import os


def get_config() -> dict:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cifar10_resnet18_T4.py")
    spec = importlib.util.spec_from_file_location("_base", path)
    base = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(base)
    return {**base.get_config(), "strategy": "bptt"}
