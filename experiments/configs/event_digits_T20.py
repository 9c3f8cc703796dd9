"""The offline event-data run: event_digits (saccade streams of scikit-learn's digits, 20 frames binned by event
count, 16x16), vgg_events, the paper's reversible neuron with inverse_grad. Needs no download: the dataset is
generated and cached on first use (about 20 s).

Command (CPU is enough, about 3-4 minutes on 2 cores)::

    revsnn train --config experiments/configs/event_digits_T20.py --workdir runs/event_digits

Expected: test accuracy about 90 % (docs/results/event_digits.csv: 3 seeds, next to bptt; made by
``python experiments/digits_strategies.py --dataset event_digits --timesteps 20 --seeds 0,1,2 --name event_digits
--out docs/results``).
"""


def get_config() -> dict:
    return {"dataset": "event_digits", "model": "vgg_events", "timesteps": 20, "strategy": "inverse_grad",
            "epochs": 20, "batch_size": 64}
