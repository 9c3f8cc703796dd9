"""revsnn_jax: spiking neural networks trained with exact gradients and almost no activation memory.

The pure core (JAX only): :mod:`~revsnn_jax.neurons` (neuron types and their math), :mod:`~revsnn_jax.surrogate`,
:mod:`~revsnn_jax.strategies` (the :class:`Strategy` value), :mod:`~revsnn_jax.time_loop` (the generic loop),
:mod:`~revsnn_jax.neuron_loop` (one neuron layer over time). Flax models live in :mod:`revsnn_jax.nn`, training in
:mod:`revsnn_jax.train` (with the training methods :mod:`revsnn_jax.dspike` and :mod:`revsnn_jax.sparse`),
measurements in :mod:`revsnn_jax.bench`.
"""

from revsnn_jax.errors import InputError
from revsnn_jax.neuron_loop import V_RECOVERIES, run_neuron
from revsnn_jax.neurons import (
    NEURONS,
    ExactRevLIFParams,
    LIFParams,
    PLIFParams,
    RevLIFParams,
    exact_rev_lif_inverse,
    exact_rev_lif_step,
    lif_step,
    rev_lif_inverse,
    rev_lif_step,
    rev_lif_step_vjp,
)
from revsnn_jax.strategies import ALIASES, STRATEGIES, Strategy
from revsnn_jax.surrogate import SURROGATES, spike, surrogate_grad
from revsnn_jax.time_loop import Step, run_time_loop

__all__ = [
    "ALIASES", "ExactRevLIFParams", "InputError", "LIFParams", "NEURONS", "PLIFParams", "RevLIFParams", "STRATEGIES",
    "SURROGATES", "Step", "Strategy", "V_RECOVERIES", "exact_rev_lif_inverse", "exact_rev_lif_step", "lif_step",
    "rev_lif_inverse", "rev_lif_step", "rev_lif_step_vjp", "run_neuron", "run_time_loop", "spike", "surrogate_grad",
]
__version__ = "0.2.0"
