"""revsnn_jax: spiking neural networks trained with almost no activation memory, via a reversible LIF neuron."""

from revsnn_jax.neurons import (
    LIFParams,
    RevLIFParams,
    lif_step,
    rev_lif_inverse,
    rev_lif_step,
    rev_lif_step_vjp,
)
from revsnn_jax.strategies import REVERSIBLE_STRATEGIES, STRATEGIES, V_RECOVERIES, run_neuron
from revsnn_jax.surrogate import SURROGATES, spike, surrogate_grad

__all__ = [
    "LIFParams", "RevLIFParams", "lif_step", "rev_lif_inverse", "rev_lif_step", "rev_lif_step_vjp",
    "REVERSIBLE_STRATEGIES", "STRATEGIES", "V_RECOVERIES", "run_neuron", "SURROGATES", "spike", "surrogate_grad",
]
__version__ = "0.1.0"
