"""The offline default run (what ``revsnn train`` with no flags does), as a config.

Command (CPU, no network; about a minute on 2 cores)::

    revsnn train --config experiments/configs/digits_default.py --workdir runs/digits

Expected: test accuracy about 98% (docs/results/digits_strategies.csv: 98.15 +- 0.32 % over 3 seeds for
inverse_grad, 97.96 +- 0.16 % for bptt, 30 epochs).
"""


def get_config() -> dict:
    return {"dataset": "digits", "model": "vgg_digits", "timesteps": 4, "strategy": "inverse_grad",
            "epochs": 30, "batch_size": 64}
