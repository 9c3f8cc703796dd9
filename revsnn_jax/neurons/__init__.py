"""Spiking neurons as pure functions (JAX only), each a type of hyperparameters with the neuron interface.

=============  ==========================  =========================================================================
``kind``       params                      what it is
=============  ==========================  =========================================================================
``lif``        :class:`LIFParams`          leaky integrate-and-fire (hard or soft reset): the usual baseline
``plif``       :class:`PLIFParams`         LIF with a learnable time constant per layer (Fang et al., 2021)
``rev``        :class:`RevLIFParams`       the paper's reversible LIF (Eq. 1-6); its inverse (Eq. 7-10) is not exact
``exact_rev``  :class:`ExactRevLIFParams`  reversible LIF in fixed point, spike-gated reset: exact inverse
``dsr_if``     :class:`DSRIFParams`        DSR's IF neuron (Meng et al., 2022): trainable threshold, rate backward
``dsr_lif``    :class:`DSRLIFParams`       DSR's LIF neuron
=============  ==========================  =========================================================================

The interface every neuron implements is in :mod:`revsnn_jax.neurons.base`; every strategy except ``reverse``
works with every neuron, and ``reverse`` with every neuron whose inverse is exact.
"""

from revsnn_jax.neurons.base import (
    SCAN_GROUPS_ABOVE,
    check_state,
    closed_form,
    has_exact_inverse,
    step_fn,
    unstack_groups,
)
from revsnn_jax.neurons.dsr import DSRIFParams, DSRLIFParams
from revsnn_jax.neurons.exact_rev_lif import ExactRevLIFParams, exact_rev_lif_inverse, exact_rev_lif_step
from revsnn_jax.neurons.lif import LIFParams, PLIFParams, lif_step, lif_step_unchecked
from revsnn_jax.neurons.rev_lif import (
    GroupForward,
    RevLIFParams,
    check_groups,
    merge_groups,
    rev_forward_groups,
    rev_forward_stacked,
    rev_inverse_groups,
    rev_lif_inverse,
    rev_lif_step,
    rev_lif_step_unchecked,
    rev_lif_step_vjp,
    rev_step_vjp,
    rev_step_with_residuals,
    rev_vjp_groups,
    rev_vjp_groups_paper,
    rev_vjp_stacked,
    split_groups,
    stack_groups,
)

NEURONS = {cls.kind: cls for cls in (RevLIFParams, LIFParams, PLIFParams, ExactRevLIFParams, DSRIFParams,
                                     DSRLIFParams)}
"""Every neuron type by its ``kind`` (the params class); adding a neuron is one class and one entry here."""


def neuron_kind(neuron) -> str:
    """The registry name of a neuron's params (``"lif"``, ``"rev"``, ...), or its class name if unregistered."""
    return getattr(neuron, "kind", type(neuron).__name__)


__all__ = [
    "NEURONS", "SCAN_GROUPS_ABOVE", "DSRIFParams", "DSRLIFParams", "ExactRevLIFParams", "GroupForward", "LIFParams",
    "PLIFParams", "RevLIFParams",
    "check_groups", "check_state", "closed_form", "exact_rev_lif_inverse", "exact_rev_lif_step", "has_exact_inverse",
    "step_fn",
    "lif_step", "lif_step_unchecked", "merge_groups", "neuron_kind", "rev_forward_groups", "rev_forward_stacked",
    "rev_inverse_groups", "rev_lif_inverse", "rev_lif_step", "rev_lif_step_unchecked", "rev_lif_step_vjp",
    "rev_step_vjp", "rev_step_with_residuals", "rev_vjp_groups", "rev_vjp_groups_paper", "rev_vjp_stacked",
    "split_groups", "stack_groups", "unstack_groups",
]
