"""Dspike's temperature search: which surrogate temperature ``b`` agrees best with the loss's finite differences.

Li et al. (NeurIPS 2021, "Differentiable Spike") train with the surrogate derivative
:func:`revsnn_jax.surrogate.dspike_grad` and adapt its temperature ``b`` during training. Every ``every`` epochs,
on one training batch, the search compares the surrogate gradient of the **first layer's weights** at
``b - step``, ``b`` and ``b + step`` with a central finite-difference gradient of the loss,

.. math:: \\hat g_i = \\frac{L(w + \\epsilon e_i) - L(w - \\epsilon e_i)}{2 \\epsilon},

and keeps the ``b`` whose gradient has the highest cosine similarity with :math:`\\hat g` (never below
``floor``). A spiking network's loss is piecewise constant in ``w``, so ``eps`` must be large enough for spikes to
flip: it is a finite step, not a limit. Dspike has no public code; these choices are ours:

* defaults ``b0 = 3``, ``step = 0.2``, ``floor = 0.2`` (those of SpikingJelly's DGS search, which builds on
  Dspike), ``every = 1`` epoch, ``eps = 0.05`` (about a tenth of a first-layer weight's spread at
  initialisation; on the digits the choice of ``b`` was the same for every ``eps`` from 0.005 to 0.2, see
  ``docs/training_methods.md``);
* the batch is the first training batch of the epoch (augmented as training sees it); BatchNorm normalises with
  that batch's statistics, as in training, and the running statistics are not touched;
* ties keep the current ``b``; a finite-difference gradient of zero (no spike flipped) keeps ``b``;
* the first layer is the convolution kernel that reads the input (its input channels equal the model's), or the
  parameter named by ``layer``.

Cost: ``2 N`` extra forward passes on one batch for a first layer of ``N`` weights (vgg_digits: 288 weights,
576 forwards; a 3x3x3->64 stem: 1,728 weights, 3,456 forwards) plus three gradients. The temperature is a static
setting of the neurons, so a new ``b`` compiles a new training step; the trainer keeps every compiled step, and
``b`` moves on a grid of ``step``, so a run compiles a handful of steps.
"""

from __future__ import annotations

import dataclasses
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import lax

from revsnn_jax.errors import InputError
from revsnn_jax.nn.layers import Neuron
from revsnn_jax.nn.params import get_leaf, set_leaf

DEFAULT_TEMPERATURE = 3.0
"""Initial temperature ``b0`` when a run uses the ``dspike`` surrogate and names none."""


@dataclasses.dataclass(frozen=True)
class TemperatureSearch:
    """Settings of the search (see the module docstring). ``chunk``: perturbed forwards evaluated together."""

    every: int = 1
    step: float = 0.2
    floor: float = 0.2
    eps: float = 0.05
    layer: str | None = None
    chunk: int = 16

    def __post_init__(self):
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise InputError(f"dspike_search_every must be an integer >= 1, got {self.every!r}")
        for name in ("step", "floor", "eps"):
            value = getattr(self, name)
            if not 0 < value < math.inf:
                raise InputError(f"dspike_{name} must be a finite number > 0, got {value}")
        if self.chunk < 1:
            raise InputError(f"chunk must be >= 1, got {self.chunk}")

    def candidates(self, b: float) -> tuple[float, ...]:
        """``b - step`` (not below ``floor``), ``b``, ``b + step``: sorted, without repeats, rounded to 1e-9 so
        that the same temperature always compiles to the same step."""
        return tuple(sorted({snap(max(b - self.step, self.floor)), snap(b), snap(b + self.step)}))


def snap(b: float) -> float:
    return round(float(b), 9)


def with_temperature(graphdef, params, batch_stats, b: float):
    """The graphdef of the same model whose every neuron layer uses surrogate width (temperature) ``b``."""
    model = nnx.merge(graphdef, params, batch_stats, copy=True)
    for _, node in nnx.iter_graph(model):
        if isinstance(node, Neuron):
            node.params = dataclasses.replace(node.params, surrogate_width=b)
    return nnx.split(model, nnx.Param, nnx.BatchStat)[0]


def finite_difference_grad(loss_at, w: jax.Array, eps: float, chunk: int = 16) -> jax.Array:
    """``(loss_at(w + eps e_i) - loss_at(w - eps e_i)) / (2 eps)`` for every element ``i`` of ``w``, evaluated
    ``chunk`` perturbations at a time (``2 w.size`` calls of ``loss_at``)."""
    flat = w.reshape(-1)

    def central(i):
        e = jnp.zeros_like(flat).at[i].set(eps).reshape(w.shape)
        return (loss_at(w + e) - loss_at(w - e)) / (2 * eps)

    return lax.map(central, jnp.arange(flat.size), batch_size=min(chunk, flat.size)).reshape(w.shape)


def cosine(a, b) -> float:
    """Cosine similarity of two arrays (float64 on the host); NaN if either is zero."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else math.nan


def choose(b: float, cosines: dict[float, float]) -> float:
    """The candidate with the highest cosine; ties and all-NaN keep ``b``."""
    best = b
    for candidate, c in sorted(cosines.items()):
        if not math.isnan(c) and (math.isnan(cosines.get(best, math.nan)) or c > cosines[best]):
            best = candidate
    return best


class Searcher:
    """Runs the search for one model; compiled functions are kept per temperature.

    Args:
      graphdef: the model's graphdef (any temperature: the forward does not depend on it).
      make_loss: ``graphdef -> loss(params, batch_stats, inputs, labels) -> (loss, aux)`` (e.g.
        :func:`revsnn_jax.train.make_loss` with the run's settings bound).
      layer: the first layer's parameter path.
      settings: :class:`TemperatureSearch`.
    """

    def __init__(self, graphdef, make_loss, layer: str, settings: TemperatureSearch):
        self.graphdef, self.make_loss, self.layer, self.settings = graphdef, make_loss, layer, settings
        self._grads, self._fd = {}, None

    def _grad_fn(self, params, batch_stats, b):
        if b not in self._grads:
            graphdef = with_temperature(self.graphdef, params, batch_stats, b)
            loss = self.make_loss(graphdef)
            layer = self.layer
            self._grads[b] = jax.jit(lambda p, s, x, y: get_leaf(jax.grad(lambda q: loss(q, s, x, y)[0])(p), layer))
        return self._grads[b]

    def finite_differences(self, params, batch_stats, inputs, labels) -> jax.Array:
        """The central finite-difference gradient of the loss w.r.t. the first layer (compiled once)."""
        if self._fd is None:
            loss, layer, eps, chunk = self.make_loss(self.graphdef), self.layer, self.settings.eps, self.settings.chunk

            def fd(params, batch_stats, inputs, labels):
                return finite_difference_grad(lambda w: loss(set_leaf(params, layer, w), batch_stats, inputs,
                                                             labels)[0], get_leaf(params, layer), eps, chunk)

            self._fd = jax.jit(fd)
        return self._fd(params, batch_stats, inputs, labels)

    def search(self, b: float, params, batch_stats, inputs, labels) -> dict:
        """``{"temperature": chosen b, "previous", "cosines": {b: cos}, "forwards", "seconds"}``."""
        t0 = time.perf_counter()
        fd = self.finite_differences(params, batch_stats, inputs, labels)
        cosines = {c: cosine(self._grad_fn(params, batch_stats, c)(params, batch_stats, inputs, labels), fd)
                   for c in self.settings.candidates(b)}
        return {"temperature": choose(snap(b), cosines), "previous": snap(b),
                "cosines": {str(c): (None if math.isnan(v) else round(v, 6)) for c, v in cosines.items()},
                "forwards": 2 * int(fd.size), "seconds": round(time.perf_counter() - t0, 3)}
