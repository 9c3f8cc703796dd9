"""Dynamic sparse training: schedule, hand-made updates, invariants, the dense gradient, and training."""

import dataclasses
import shutil

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from revsnn_jax import data, nn, train
from revsnn_jax.methods import sparse
from revsnn_jax.train import checkpoints
from revsnn_jax.errors import InputError
from revsnn_jax.nn.params import param_paths


def tiny_params(seed=0):
    model = nn.create_model("vgg_tiny", num_classes=10, in_channels=1, seed=seed)
    return nn.split(model)


def test_cubic_schedule_values():
    s = sparse.SparseSchedule(initial_density=0.5, final_density=0.01, start=0, end=100, every=10)
    got = [round(float(s.sparsity(k)), 3) for k in range(12)]
    assert got == [0.5, 0.633, 0.739, 0.822, 0.884, 0.929, 0.959, 0.977, 0.986, 0.99, 0.99, 0.99]
    assert s.updates == 10
    steps = jnp.arange(0, 131)
    updates = [int(t) for t in steps if bool(s.is_update(t))]
    assert updates == list(range(0, 101, 10))
    assert float(s.ratio(0)) == pytest.approx(0.5) and float(s.ratio(100)) == pytest.approx(0.005)
    assert float(s.ratio(50)) == pytest.approx(0.005 + 0.5 * 0.495)


def test_masked_density_follows_the_schedule_to_within_one_weight():
    graphdef, params, _ = tiny_params()
    s = sparse.SparseSchedule(initial_density=0.6, final_density=0.05, start=0, end=40, every=10)
    which = sparse.masked(params, s)
    total = sparse.count(params, which)
    masks = sparse.init_masks(params, s)
    assert abs(float(sparse.density(masks, which)) * total - 0.6 * total) <= 1
    params = sparse.apply(params, masks)
    rng = np.random.default_rng(0)
    previous = 0.6
    for k in range(5):
        grads = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype), params)
        masks = sparse.update(params, masks, grads, jnp.int32(10 * k), s, which)
        active = float(sparse.density(masks, which)) * total
        assert abs(active - (1 - float(s.sparsity(k))) * total) <= 1, k
        assert active / total <= previous + 1 / total   # monotone
        previous = active / total
        # new weights: dropped ones zeroed; grown ones were zero; survivors move a little
        params = jax.tree.map(lambda p, m: jnp.where(m, p + 0.01, 0.0), params, masks)
    assert previous == pytest.approx(0.05, abs=1 / total)
    # only kernels carry masks; the first one stays dense on request
    flags = jax.tree.leaves(which)
    assert flags.count(True) == 3
    dense_first = sparse.masked(params, dataclasses.replace(s, dense_first=True), in_channels=1)
    assert [p for p, f in zip(param_paths(params), jax.tree.leaves(dense_first)) if f] == \
        ["convs.1.kernel", "head.kernel"]
    resnet = nn.split(nn.create_model("resnet_tiny", num_classes=10, in_channels=3))[1]
    kept = sparse.masked(resnet, dataclasses.replace(s, dense_first=True), in_channels=3)
    assert [p for p, f in zip(param_paths(resnet), jax.tree.leaves(kept)) if not f and "kernel" in p] == \
        ["stem_conv.kernel"]   # the stem, not the first kernel in path order (blocks.0...)


def test_a_hand_made_update_drops_the_smallest_and_grows_the_largest_gradients():
    w = jnp.asarray([0.5, -0.1, 0.0, 0.3, -0.2, 0.0, 0.0, 0.1, 0.0, 0.9])
    m = jnp.asarray([1, 1, 0, 1, 1, 0, 0, 1, 0, 1], bool)
    g = jnp.asarray([9.0, 9.0, 0.2, 9.0, 9.0, -0.7, 0.2, 9.0, 0.5, 9.0])
    # 6 active; ceil(0.34 * 6) = 3 dropped: |w| 0.1 at 1 and 7 (tie: lower index first), then 0.2 at 4;
    # 3 grown among the inactive 2, 5, 6, 8: |g| 0.7 (5), 0.5 (8), then 0.2 at 2 and 6 (tie: index 2)
    new = sparse.drop_and_grow(w, m, g, 0.34)
    assert np.flatnonzero(np.asarray(new)).tolist() == [0, 2, 3, 5, 8, 9]
    # ratio 0.2: ceil(1.2) = 2 dropped (indices 1 and 7, equal |w|), 2 grown (5, 8)
    assert np.flatnonzero(np.asarray(sparse.drop_and_grow(w, m, g, 0.2))).tolist() == [0, 3, 4, 5, 8, 9]
    # never more grown than there are inactive positions: drops are capped to match
    full = jnp.ones(10, bool).at[3].set(False)
    assert int(jnp.sum(sparse.drop_and_grow(w, full, g, 0.5))) == 9
    # global magnitude pruning keeps the largest |w| among active ones only
    params, which = {"a": w.reshape(2, 5)}, {"a": True}
    kept = sparse.magnitude_prune(params, {"a": m.reshape(2, 5)}, which, 3)
    assert np.flatnonzero(np.asarray(kept["a"])).tolist() == [0, 3, 9]


def run_steps(cfg, n):
    cfg = cfg.resolved()
    ds = data.load(cfg.dataset)
    mesh = train.data_mesh()
    graphdef, state, optimizer, spe = train.build(cfg, ds, mesh)
    step, _ = train.jit_steps(graphdef, optimizer, cfg, mesh)
    states = []
    for i, (x, y) in enumerate(data.train_batches(ds, cfg.batch_size, cfg.seed, 0, ())):
        if i == n:
            break
        state, metrics = train.run_step(step, state, x, y.astype(np.int32))
        states.append(jax.device_get(state))   # the next step donates these buffers
    return states, train.make_optimizer(dataclasses.replace(cfg, sparse_final_density=None), spe)   # the inner


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_after_every_step_pruned_weights_and_their_moments_are_zero(optimizer):
    cfg = train.TrainConfig(model="vgg_tiny", batch_size=128, timesteps=2, optimizer=optimizer, epochs=2,
                            sparse_final_density=0.2, sparse_every=2, sparse_end_epoch=1)
    states, opt = run_steps(cfg, 6)
    densities = []
    for state in states:
        masks, inner = sparse.masks_of(state["opt_state"]), state["opt_state"].inner
        for p, m in zip(jax.tree.leaves(state["params"]), jax.tree.leaves(masks)):
            assert bool(jnp.all(jnp.where(m, True, p == 0)))
        moments = optax.tree_utils.tree_map_params(opt, lambda s, m: jnp.all(jnp.where(m, True, s == 0)),
                                                   inner, masks, transform_non_params=lambda s, *_: jnp.bool_(True))
        assert all(bool(x) for x in jax.tree.leaves(moments))
        leaves = [m for m in jax.tree.leaves(masks) if m.ndim]
        densities.append(sum(int(m.sum()) for m in leaves) / sum(m.size for m in leaves))
    # updates at steps 0, 2, 4 of 11 steps per epoch: the density falls at 2 and 4 only
    assert densities[0] == densities[1] > densities[2] == densities[3] > densities[4] == densities[5]
    assert densities[0] == pytest.approx(0.5, abs=1e-3)
    # the momentum is non-zero somewhere (the check above is not vacuous)
    assert any(bool(jnp.any(s != 0)) for s in jax.tree.leaves(states[-1]["opt_state"].inner) if s.ndim)


def test_all_ones_masks_train_bit_identically_to_dense():
    dense = train.TrainConfig(model="vgg_tiny", batch_size=128, timesteps=2, epochs=2)
    ones = dataclasses.replace(dense, sparse_final_density=1.0, sparse_initial_density=1.0)
    a, _ = run_steps(dense, 4)
    b, _ = run_steps(ones, 4)
    for sa, sb in zip(a, b):
        chex.assert_trees_all_equal(sa["params"], sb["params"])
        chex.assert_trees_all_equal(sa["opt_state"], sb["opt_state"].inner)
        assert all(bool(jnp.all(m)) for m in jax.tree.leaves(sparse.masks_of(sb["opt_state"])))


@pytest.mark.parametrize("neuron,strategy", [("rev", "inverse_grad"), ("rev", "inverse_grad+low_memory"),
                                             ("lif", "anchored"),
                                             pytest.param("exact_rev", "reverse", marks=pytest.mark.slow)])   # 13 s
def test_the_dense_gradient_at_pruned_positions_equals_bptt(neuron, strategy):
    params_of = train.TrainConfig(neuron=neuron).resolved().neuron_params()
    graphdef, params, batch_stats = nn.split(nn.create_model("vgg_tiny", num_classes=10, in_channels=1,
                                                             neuron=params_of))
    s = sparse.SparseSchedule(initial_density=0.3, final_density=0.3)
    masks = sparse.init_masks(params, s)
    params = sparse.apply(params, masks)
    x = jax.random.normal(jax.random.key(1), (16, 8, 8, 1))
    labels = jnp.arange(16) % 10

    def grads(strategy):
        return train.loss_and_grads(graphdef, params, batch_stats, x, labels, timesteps=4, strategy=strategy)[1]

    ref, got = grads("bptt"), grads(strategy)
    checked = 0
    for r, a, m in zip(jax.tree.leaves(ref), jax.tree.leaves(got), jax.tree.leaves(masks)):
        if not m.ndim:
            continue
        pruned_r, pruned_a = np.asarray(r)[~np.asarray(m)], np.asarray(a)[~np.asarray(m)]
        assert np.count_nonzero(pruned_r) > 0.9 * pruned_r.size   # growth has a gradient to use
        assert np.linalg.norm(pruned_a - pruned_r) <= 1e-5 * np.linalg.norm(pruned_r)
        checked += 1
    assert checked == 3


SPARSE = train.TrainConfig(model="vgg_tiny", batch_size=256, epochs=3, timesteps=2, sparse_final_density=0.3,
                           sparse_every=3)


@pytest.mark.slow   # 12 s; resume: test_a_checkpoint_of_the_older_layout_resumes_exactly
def test_sparse_training_records_density_and_resume_continues_the_schedule_exactly(tmp_path):
    full = train.train_and_evaluate(SPARSE, str(tmp_path / "a"), progress=False)
    records = train.read_metrics(str(tmp_path / "a"))
    assert [r["density"] for r in records][-1] == pytest.approx(0.3, abs=1e-3)
    assert records[0]["density"] > records[1]["density"] >= records[2]["density"]

    def stop(step, metrics):
        if step == 8:   # in epoch 2 (5 steps per epoch)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train.train_and_evaluate(SPARSE, str(tmp_path / "b"), progress=False, on_step=stop)
    resumed = train.train_and_evaluate(SPARSE, str(tmp_path / "b"), resume=True, progress=False)
    timing = ("epoch_seconds", "images_per_second")
    strip = lambda rs: [{k: v for k, v in r.items() if k not in timing} for r in rs]   # noqa: E731
    assert strip(train.read_metrics(str(tmp_path / "b"))) == strip(records)
    assert resumed["test_accuracy"] == full["test_accuracy"]
    cfg = SPARSE.resolved()
    _, like, _, _ = train.build(cfg, data.load(cfg.dataset), train.data_mesh())
    a, _ = checkpoints.restore(str(tmp_path / "a"), like)
    b, _ = checkpoints.restore(str(tmp_path / "b"), like)
    chex.assert_trees_all_equal(a, b)
    assert sparse.masks_of(a["opt_state"]) is not None


@pytest.mark.parametrize("values,message", [
    ({"sparse_every": 3}, "sparse_every set dynamic sparse training; give sparse_final_density"),
    ({"sparse_final_density": 0.6}, r"final \(0.6\) <= initial \(0.5\)"),
    ({"sparse_final_density": 0.1, "sparse_end_epoch": 99}, "sparse_end_epoch must be in"),
    ({"sparse_final_density": 0.1, "sparse_exchange_ratio": 1.0}, "exchange ratios"),
])
def test_bad_sparse_settings_are_named(values, message):
    with pytest.raises(InputError, match=message):
        train.TrainConfig(**values).resolved()


def test_a_checkpoint_of_the_older_layout_resumes_exactly(tmp_path):
    """Before 0.3 the masks sat beside the optimizer state (``state["masks"]``, no ``state_format`` in the meta):
    such a checkpoint is converted on resume and the run ends as an uninterrupted one."""
    full = train.train_and_evaluate(SPARSE, str(tmp_path / "a"), progress=False)

    def stop(step, metrics):
        if step == 8:   # in epoch 2 (5 steps per epoch): the checkpoint of epoch 1 stays
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train.train_and_evaluate(SPARSE, str(tmp_path / "b"), progress=False, on_step=stop)
    cfg = SPARSE.resolved()
    _, like, _, _ = train.build(cfg, data.load(cfg.dataset), train.data_mesh())
    state, meta = checkpoints.restore(str(tmp_path / "b"), like)
    old = {"params": state["params"], "batch_stats": state["batch_stats"], "opt_state": state["opt_state"].inner,
           "masks": state["opt_state"].masks, "step": state["step"]}
    shutil.rmtree(tmp_path / "b" / "checkpoints")
    saver = checkpoints.Saver(str(tmp_path / "b"))
    saver.save(1, old, {k: v for k, v in meta.items() if k != "state_format"})
    saver.close()
    resumed = train.train_and_evaluate(SPARSE, str(tmp_path / "b"), resume=True, progress=False)
    assert resumed["test_loss"] == full["test_loss"] and resumed["train_loss"] == full["train_loss"]
