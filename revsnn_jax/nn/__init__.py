"""Spiking VGG/ResNet in flax.nnx (one timestep per call), the model interface, and the network over time.

Bring your own model: any ``nnx.Module`` with ``step(self, x, ctx) -> logits`` (:mod:`revsnn_jax.nn.context`).
"""

from revsnn_jax.nn.context import StepContext
from revsnn_jax.nn.layers import BatchNorm, Neuron, NeuronSpec, avg_pool, conv
from revsnn_jax.nn.models import MODELS, create_model
from revsnn_jax.nn.network import ENCODINGS, check_inputs, forward, initial_potentials, make_step, network_inputs, \
    repeat_frames, split, update_batch_stats

__all__ = ["BatchNorm", "ENCODINGS", "MODELS", "Neuron", "NeuronSpec", "StepContext", "avg_pool", "check_inputs",
           "conv", "create_model", "forward", "initial_potentials", "make_step", "network_inputs", "repeat_frames",
           "split", "update_batch_stats"]
