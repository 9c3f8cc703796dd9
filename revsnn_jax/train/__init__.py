"""Training: the run's configuration, the training and evaluation steps, data parallel, and the job that trains,
evaluates, checkpoints and resumes.

=================  ===========================================================================================
module             what
=================  ===========================================================================================
``config``         :class:`TrainConfig` (every field with its flag), its checks and defaults, config files
``step``           the optimizer, :func:`make_train_step` and :func:`make_eval_step` (pure; one signature)
``parallel``       the ``data`` mesh, replication, sharding a global batch (one or many processes)
``state``          a run's model, state and compiled steps; :func:`dry_run`, :func:`plan_run`, :func:`load_trained`
``loop``           :func:`train_and_evaluate`: epochs, evaluation, divergence, resume
``rundir``         a run's folder: usability checks, the one-writer lock, ``metrics.jsonl``
``checkpoints``    orbax checkpoints of a run (damaged ones reported and moved aside)
=================  ===========================================================================================
"""

from revsnn_jax.methods.method import METHODS
from revsnn_jax.train import checkpoints, rundir
from revsnn_jax.train.config import (
    NEURON_FIELDS,
    NEURONS,
    ON_NONFINITE,
    OPTIMIZER_DEFAULTS,
    OPTIMIZERS,
    RESUMABLE_CHANGES,
    TrainConfig,
    default_workdir,
    load_config_file,
)
from revsnn_jax.train.loop import Diverged, evaluate, read_metrics, train_and_evaluate
from revsnn_jax.train.parallel import check_batch_size, data_mesh, replicate, shard_batch
from revsnn_jax.train.state import (
    TrainSteps,
    build,
    dry_run,
    initial_state,
    jit_steps,
    load_trained,
    plan_run,
    read_config,
    run_step,
)
from revsnn_jax.train.step import (
    all_finite,
    loss_and_grads,
    make_eval_step,
    make_loss,
    make_optimizer,
    make_train_step,
    network_inputs,
)

__all__ = [
    "METHODS", "NEURONS", "NEURON_FIELDS", "ON_NONFINITE", "OPTIMIZERS", "OPTIMIZER_DEFAULTS", "RESUMABLE_CHANGES",
    "Diverged", "TrainConfig", "TrainSteps", "all_finite", "build", "check_batch_size", "checkpoints", "data_mesh",
    "default_workdir", "dry_run", "evaluate", "initial_state", "jit_steps", "load_config_file", "load_trained",
    "loss_and_grads", "make_eval_step", "make_loss", "make_optimizer", "make_train_step", "network_inputs",
    "plan_run", "read_config", "read_metrics", "replicate", "rundir", "run_step", "shard_batch", "train_and_evaluate",
]
