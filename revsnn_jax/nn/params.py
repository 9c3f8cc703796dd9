"""A model's parameters by name: ``"convs.0.kernel"`` paths into an ``nnx.State``, and the first layer.

Training methods that treat one layer or every kernel specially (Dspike's temperature search reads the first
layer's gradient; sparse training masks every kernel, optionally not the first) name parameters this way.
"""

from __future__ import annotations

import jax

from revsnn_jax.errors import InputError


def param_paths(params) -> dict[str, tuple]:
    """``{"convs.0.kernel": key path}`` for every parameter array of ``params`` (an nnx.State), in tree order."""
    out = {}
    for key_path, _ in jax.tree_util.tree_flatten_with_path(params)[0]:
        names = [str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in key_path]
        out[".".join(n for n in names if n != "value")] = key_path
    return out


def named(params) -> dict[str, jax.Array]:
    """``{path: array}`` of every parameter."""
    return dict(zip(param_paths(params), jax.tree.leaves(params)))


def first_layer(params, in_channels: int) -> str:
    """The path of the convolution kernel that reads the input: the first 4-D parameter (in tree order) whose
    input channels equal ``in_channels``. InputError if there is none."""
    for path, leaf in named(params).items():
        if leaf.ndim == 4 and leaf.shape[2] == in_channels:
            return path
    raise InputError(f"no convolution kernel reads the {in_channels}-channel input; name the first layer (one of: "
                     + ", ".join(p for p, a in named(params).items() if a.ndim >= 2) + ")")


def get_leaf(params, path: str):
    """The parameter array at ``path``; InputError listing the model's weights if there is none."""
    leaves = named(params)
    if path not in leaves:
        raise InputError(f"the model has no parameter {path!r}; its weights: "
                         + ", ".join(p for p, a in leaves.items() if a.ndim >= 2))
    return leaves[path]


def set_leaf(params, path: str, value):
    """``params`` with the array at ``path`` replaced by ``value``."""
    target = param_paths(params)[path]
    return jax.tree_util.tree_map_with_path(lambda kp, a: value if kp == target else a, params)
