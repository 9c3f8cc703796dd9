"""revsnn_jax: spiking neural networks trained with exact gradients and almost no activation memory.

The pure core (JAX only): :mod:`~revsnn_jax.neurons` (neuron types and their math), :mod:`~revsnn_jax.surrogate`,
:mod:`~revsnn_jax.strategies` (the :class:`~revsnn_jax.strategies.Strategy` value), :mod:`~revsnn_jax.time_loop`
(the generic loop),
:mod:`~revsnn_jax.neuron_loop` (one neuron layer over time), :mod:`~revsnn_jax.bitpack`. Above it, each importing
downward only: :mod:`revsnn_jax.nn` (flax.nnx models and the step context), :mod:`revsnn_jax.methods` (training
methods: exact, OTTT/SLTT, DSR, Dspike, sparse training, and the resolver of neuron, strategy and method),
:mod:`revsnn_jax.data` (datasets, the input pipeline, event data), :mod:`revsnn_jax.train` (config, steps, the
loop), :mod:`revsnn_jax.bench` (measurements), :mod:`revsnn_jax.nir` and :mod:`revsnn_jax.cli`.
"""

from revsnn_jax import _moved
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


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("revsnn_jax")
    except PackageNotFoundError:   # run from a source tree that was never installed
        return "unknown"


__version__ = _version()
"""The installed package's version (pyproject.toml is its one source)."""

_moved.install()   # old module names (revsnn_jax.online, revsnn_jax.event_datasets, ...) stay importable
