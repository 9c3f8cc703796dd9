"""The training and evaluation steps: loss on logits averaged over T, gradients by the method (and, for the exact
method, the strategy), one optax update. Pure functions; jit them once (:mod:`revsnn_jax.train.loop` does).

The training step has one signature for every method and feature: ``train_step(params, batch_stats, opt_state,
inputs, labels) -> (params, batch_stats, opt_state, metrics)``. Features that change the update are optax
wrappers of the optimizer (dynamic sparse training: :func:`revsnn_jax.methods.sparse.dynamic_sparsity`), with
their state in ``opt_state``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from revsnn_jax import methods
from revsnn_jax.methods import online
from revsnn_jax.methods.exact import make_loss
from revsnn_jax.methods.method import Method, as_method
from revsnn_jax.methods.sparse import dynamic_sparsity, project
from revsnn_jax.nn import network
from revsnn_jax.nn.network import network_inputs
from revsnn_jax.strategies import Strategy, as_strategy
from revsnn_jax.train.config import ON_NONFINITE, TrainConfig, check_choice

__all__ = ["all_finite", "loss_and_grads", "make_eval_step", "make_loss", "make_optimizer", "make_train_step",
           "network_inputs"]


def make_optimizer(cfg: TrainConfig, steps_per_epoch: int) -> optax.GradientTransformation:
    """SGD with momentum (decoupled weight decay) or AdamW, both with a cosine learning-rate schedule over the
    run's steps; wrapped for dynamic sparse training when the config asks for it."""
    total_steps = steps_per_epoch * cfg.epochs
    if cfg.online_update:   # OTTT_O: an optimizer step per timestep
        total_steps *= cfg.timesteps
    schedule = optax.cosine_decay_schedule(cfg.learning_rate, decay_steps=max(total_steps, 1))
    if cfg.optimizer == "sgd":
        optimizer = optax.chain(optax.add_decayed_weights(cfg.weight_decay),
                                optax.sgd(schedule, momentum=cfg.momentum or None))
    else:
        optimizer = optax.adamw(schedule, weight_decay=cfg.weight_decay)
    sparsity = cfg.sparse_schedule(steps_per_epoch)
    if sparsity is None:
        return optimizer
    return dynamic_sparsity(optimizer, sparsity, cfg.input_shape()[-1])


def loss_and_grads(graphdef, params, batch_stats, inputs, labels, *, timesteps: int, strategy: Strategy | str,
                   encoding: str = "direct"):
    """``((loss, (logits, per-step BN statistics)), parameter gradients)`` of the mean cross-entropy (the exact
    method; :func:`revsnn_jax.methods.loss_and_grads` takes any method)."""
    return methods.loss_and_grads("exact", graphdef, params, batch_stats, inputs, labels, timesteps=timesteps,
                                  strategy=strategy, encoding=encoding)


def make_train_step(graphdef, optimizer: optax.GradientTransformation, *, timesteps: int,
                    strategy: Strategy | str = "inverse_grad", encoding: str = "direct", bn_momentum: float = 0.9,
                    on_nonfinite: str = "stop", method: Method | str = "exact"):
    """A pure ``train_step(params, batch_stats, opt_state, inputs, labels) -> (params, batch_stats, opt_state,
    metrics)``; jit it once (with ``donate_argnums=(0, 1, 2)``).

    ``inputs``: images ``[B, H, W, C]`` (``encoding="direct"``: fed at every step) or frames ``[T, B, H, W, C]``;
    ``labels``: int ``[B]``; ``strategy``: a :class:`~revsnn_jax.strategies.Strategy` or its label.
    ``metrics["finite"]`` says whether the loss, every gradient and the updated state are finite (computed in the
    step: the caller reads it with the other metrics, no extra device sync). ``on_nonfinite="skip-step"`` also
    returns the state unchanged for a non-finite step; ``"stop"`` leaves the decision to the caller.

    ``method`` (:mod:`revsnn_jax.methods`): ``exact`` (the strategy's BPTT gradient), ``ottt``, ``sltt``, ``dsr``.
    With ``online_update`` (OTTT_O) the optimizer steps after every timestep; the reported loss is then the sum of
    the per-step losses as each step saw its parameters. Dynamic sparse training is the optimizer's business
    (:func:`revsnn_jax.methods.sparse.dynamic_sparsity`); the step projects the weights onto its masks after each
    update (:func:`revsnn_jax.methods.sparse.project`, a no-op for other optimizers).
    """
    strategy = as_strategy(strategy)
    method = as_method(method)
    check_choice("on_nonfinite", on_nonfinite, ON_NONFINITE)

    def optimizer_step(grads, opt_state, params):
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return project(optax.apply_updates(params, updates), opt_state), opt_state   # project: sparse masks

    def train_step(params, batch_stats, opt_state, inputs, labels):
        inputs = network_inputs(inputs, encoding, timesteps)
        if method.online_update:
            out = online.run(method, graphdef, params, batch_stats, inputs, labels, timesteps=timesteps,
                             encoding=encoding, update=optimizer_step, update_state=opt_state)
            loss, logits, stats, grads = out.loss, out.logits.mean(0), out.aux, out.grads
            new_params, new_opt_state = out.params, out.update_state
        else:
            (loss, (logits, stats)), grads = methods.loss_and_grads(method, graphdef, params, batch_stats, inputs,
                                                                    labels, timesteps=timesteps, strategy=strategy,
                                                                    encoding=encoding)
            new_params, new_opt_state = optimizer_step(grads, opt_state, params)
        new_batch_stats = network.update_batch_stats(graphdef, new_params, batch_stats, stats, bn_momentum)
        finite = jnp.isfinite(loss) & all_finite((grads, new_params, new_batch_stats))
        metrics = {"loss": loss, "accuracy": jnp.mean(jnp.argmax(logits, -1) == labels), "finite": finite}
        new = (new_params, new_batch_stats, new_opt_state)
        if on_nonfinite == "skip-step":
            new = jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, (params, batch_stats, opt_state))
        return (*new, metrics)

    return train_step


def all_finite(tree) -> jax.Array:
    """A scalar bool: every element of every floating-point leaf of ``tree`` is finite."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def make_eval_step(graphdef, *, timesteps: int, encoding: str = "direct"):
    """A pure ``eval_step(params, batch_stats, inputs, labels, mask) -> {loss_sum, correct, count}`` (running
    BatchNorm statistics; rows with ``mask == 0`` are padding and not counted)."""

    def eval_step(params, batch_stats, inputs, labels, mask):
        logits, _ = network.forward(graphdef, params, batch_stats, network_inputs(inputs, encoding, timesteps),
                                    timesteps=timesteps, strategy="bptt", train=False, encoding=encoding)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
        return {"loss_sum": jnp.sum(loss * mask), "correct": jnp.sum((jnp.argmax(logits, -1) == labels) * mask),
                "count": jnp.sum(mask)}

    return eval_step
