"""The layout's rules, read from the source: imports flow one way, no cycles, small modules and functions, one flag
per config field, and the old module names still import."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "revsnn_jax"
CORE = ("revsnn_jax.neurons", "revsnn_jax.surrogate", "revsnn_jax.strategies", "revsnn_jax.time_loop",
        "revsnn_jax.neuron_loop", "revsnn_jax.bitpack", "revsnn_jax.remat", "revsnn_jax.errors",
        "revsnn_jax.schedules")
"""The pure core: JAX and numpy only."""
FRAMEWORKS = ("flax", "optax", "orbax", "tensorflow_datasets", "chex")


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """Every module ``name`` imports (top level and inside functions): ``from pkg import sub`` counts as the
    submodule where ``sub`` is one; a parent package is not counted for importing its child."""
    tree = ast.parse(MODULES[name].read_text())
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in MODULES else base)
    return out


GRAPH = {name: {m for m in imports_of(name) if m in MODULES and m != name} for name in MODULES}


def reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for m in GRAPH[todo.pop()]:
            if m not in seen:
                seen.add(m)
                todo.append(m)
    return seen


def in_package(name: str, packages) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_the_import_graph_has_no_cycle():
    cycles = sorted(name for name in MODULES if name in reachable(name))
    assert not cycles, f"modules on an import cycle: {cycles}"


def test_the_pure_core_imports_no_framework_above_jax():
    core = [name for name in MODULES if in_package(name, CORE)]
    assert len(core) >= 12
    for name in core:
        below = reachable(name) | {name}
        assert all(in_package(m, CORE) for m in below), (name, sorted(m for m in below if not in_package(m, CORE)))
        foreign = {m for b in below for m in imports_of(b) if m.split(".")[0] in FRAMEWORKS}
        assert not foreign, (name, foreign)


def test_nn_imports_no_training_method_and_data_no_training():
    for name in MODULES:
        if in_package(name, ("revsnn_jax.nn",)):
            assert not any(in_package(m, ("revsnn_jax.methods", "revsnn_jax.train", "revsnn_jax.data"))
                           for m in reachable(name)), name
        if in_package(name, ("revsnn_jax.data",)):
            assert not any(in_package(m, ("revsnn_jax.nn", "revsnn_jax.methods", "revsnn_jax.train"))
                           for m in reachable(name)), name
        if in_package(name, ("revsnn_jax.data.events",)):
            assert "revsnn_jax.data.registry" not in reachable(name), name


def test_no_module_over_500_lines_and_no_function_over_80():
    long_functions = []
    for name, path in MODULES.items():
        source = path.read_text()
        assert len(source.splitlines()) <= 500, f"{name}: {len(source.splitlines())} lines"
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80:
                long_functions.append(f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not long_functions


def test_every_config_field_has_a_flag_and_every_flag_a_field():
    from revsnn_jax import cli, train
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["train"]
    flags = {a.dest for a in sub._actions if a.option_strings and a.dest != "help"}
    fields = {f.name for f in dataclasses.fields(train.TrainConfig)}
    assert flags - set(cli.RUN_FLAGS) == fields
    assert set(cli.RUN_FLAGS) <= flags


def test_the_config_neuron_fields_are_the_neuron_types_fields():
    from revsnn_jax import neurons, train
    union = {f.name for cls in neurons.NEURONS.values() for f in dataclasses.fields(cls)}
    assert set(train.NEURON_FIELDS) == union


@pytest.mark.parametrize("old, new, name", [
    ("revsnn_jax.online", "revsnn_jax.methods.online", "traced_matmul"),
    ("revsnn_jax.event_io", "revsnn_jax.data.events.formats", "read_aedat31"),
    ("revsnn_jax.workdir", "revsnn_jax.train.rundir", "Lock"),
    ("revsnn_jax.nn.methods", "revsnn_jax.methods", "Method"),
])
def test_moved_modules_import_under_their_old_names(old, new, name):
    assert importlib.import_module(old) is importlib.import_module(new)
    assert getattr(importlib.import_module(old), name) is getattr(importlib.import_module(new), name)


def test_a_module_split_in_two_finds_names_in_both():
    from revsnn_jax import event_datasets   # noqa: F401  (the alias: DVS datasets and CIFAR's archives)
    from revsnn_jax.data import cifar
    from revsnn_jax.data.events import datasets
    assert event_datasets.read_cifar_archive is cifar.read_cifar_archive
    assert event_datasets.FrameSettings is datasets.FrameSettings
    with pytest.raises(AttributeError, match="moved to"):
        event_datasets.no_such_name   # noqa: B018


def test_the_version_comes_from_the_package_metadata():
    import importlib.metadata

    import revsnn_jax
    assert revsnn_jax.__version__ == importlib.metadata.version("revsnn_jax")
