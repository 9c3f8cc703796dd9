"""Training steps: loss on logits averaged over T, gradients by the chosen strategy, an optax update."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from revsnn_jax.nn import network


def make_train_step(graphdef, optimizer: optax.GradientTransformation, *, timesteps: int, strategy: str,
                    encoding: str = "direct", anchor_every: int | None = None, low_memory: bool = False,
                    bn_momentum: float = 0.9):
    """A pure ``train_step(params, batch_stats, opt_state, inputs, labels) -> (params, batch_stats, opt_state,
    metrics)``; jit it once (with ``donate_argnums=(0, 1, 2)``)."""

    def train_step(params, batch_stats, opt_state, inputs, labels):
        def loss_fn(params):
            logits, stats = network.forward(graphdef, params, batch_stats, inputs, timesteps=timesteps,
                                            strategy=strategy, train=True, encoding=encoding,
                                            anchor_every=anchor_every, low_memory=low_memory)
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
            return loss, (logits, stats)

        (loss, (logits, stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        batch_stats = network.update_batch_stats(graphdef, params, batch_stats, stats, bn_momentum)
        metrics = {"loss": loss, "accuracy": jnp.mean(jnp.argmax(logits, -1) == labels)}
        return params, batch_stats, opt_state, metrics

    return train_step
