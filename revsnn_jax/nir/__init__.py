"""Export trained networks to the Neuromorphic Intermediate Representation (NIR) and run NIR graphs here.

Needs the optional package ``nir`` (``pip install "revsnn_jax[nir]"``); nothing else in the library imports this
module. ``docs/nir.md`` has the mapping in full; in short:

* :func:`to_nir` lowers a :class:`~revsnn_jax.nn.vgg.SpikingVGG`, a :class:`~revsnn_jax.nn.resnet.SpikingResNet`
  or a :class:`NIRNetwork` with ``lif`` or ``plif`` neurons, in evaluation mode, to a flat ``nir.NIRGraph`` of
  ``Input, Conv2d, LIF, SumPool2d, Flatten, Affine, Output``. Tensors are channels-first without a batch axis
  (NIR's layout); convolution kernels HWIO -> OIHW; BatchNorm (running statistics) folded into the convolution
  before it; 2x2 average pooling and the head's global average as ``SumPool2d`` with the ``1/k^2`` folded into
  the next layer's weights; a residual block's shortcut as a second edge into its last LIF node (NIR sums the
  edges into a node). Node names are the layers' paths in the model (``convs.0``, ``blocks.1.neuron2``).
* :func:`from_nir` builds a trainable :class:`NIRNetwork` (an ordinary model of this library: every gradient
  strategy works with it) from a graph of ``Input, Output, Conv2d, Affine, Linear, Scale, SumPool2d, AvgPool2d,
  Flatten, LIF`` nodes, wherever it was made.

**The LIF discretisation.** NIR's LIF is continuous: :math:`\\tau\\dot v = (v_{leak} - v) + R I`, a spike when
:math:`v > v_{th}`, then :math:`v \\leftarrow v_{reset}`. One forward-Euler step of length ``dt`` is
:math:`v \\leftarrow v + (dt/\\tau)(v_{leak} - v + R I)`. This library's LIF (``revsnn_jax.neurons.lif``) is
:math:`M = V + k(X - (V - V_{reset}))` with a hard reset to :math:`V_{reset}`, so it is that Euler step exactly with
``tau = dt / k`` (``k = 1/tau`` of LIF, ``sigmoid(w)`` of PLIF), ``r = 1`` and ``v_leak = v_reset``. The graph's
metadata records ``dt``, the reset (``"zero"``: to ``v_reset``, not subtractive), the readout (the mean over time
of the output node) and the input encoding; a simulator must step with the same ``dt``. Spikes fire at
:math:`M \\ge V_{th}` here and at :math:`v > v_{th}` in NIR, so the exported threshold is the largest float32
below :math:`V_{th}` (:func:`strict_threshold`; the import undoes it): the two conditions then agree on every
float32 potential, including one that lands exactly on the threshold, which does happen (once in 11.5 M spikes of
a ResNet-19, enough to change every later layer).

**Not exportable, with the reason in the error:** the reversible neurons (``rev``: the reset multiplies the
potential by the real-valued output, :math:`(1 - Y) M` with :math:`Y = S + \\beta X_2`, a product of two signals;
``exact_rev``: fixed-point shifts that drop and keep low bits), BatchNorm in training mode (per-timestep batch
statistics), models of other classes.
"""

from __future__ import annotations

from revsnn_jax.nir.compare import compare_graphs, compare_runs, graph_arrays, layer_outputs
from revsnn_jax.nir.export import DEFAULT_DT, SUPPORTED_NODES, _nir, inclusive_threshold, strict_threshold, to_nir  # noqa: F401
from revsnn_jax.nir.importer import NIRNetwork, from_nir
from revsnn_jax.nir.run import export_run

__all__ = ["DEFAULT_DT", "NIRNetwork", "SUPPORTED_NODES", "compare_graphs", "compare_runs", "export_run", "from_nir",
           "graph_arrays", "inclusive_threshold", "layer_outputs", "strict_threshold", "to_nir"]
