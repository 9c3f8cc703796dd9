"""Spiking VGG/ResNet in flax.nnx (one timestep per call) and the whole-network time loop."""

from revsnn_jax.nn.layers import BatchNorm, Neuron, NeuronSpec
from revsnn_jax.nn.models import MODELS, create_model
from revsnn_jax.nn.network import ENCODINGS, STRATEGIES, check_inputs, forward, split, update_batch_stats

__all__ = ["BatchNorm", "Neuron", "NeuronSpec", "MODELS", "create_model", "ENCODINGS", "STRATEGIES",
           "check_inputs", "forward", "split", "update_batch_stats"]
