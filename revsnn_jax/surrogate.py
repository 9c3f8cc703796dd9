"""Heaviside spike function with surrogate gradients (pure JAX).

The forward pass is the Heaviside step :math:`H(z) = 1` for :math:`z \\ge 0`, else 0. Its derivative is replaced
by a smooth surrogate :math:`\\sigma'(z)` of width parameter :math:`\\theta`:

========= =============================================================== ==================
name      :math:`\\sigma'(z)`                                              integral over z
========= =============================================================== ==================
paper     :math:`\\theta / (2 + (\\pi\\theta z)^2)` (Eq. 11-12 of the paper)   :math:`1/\\sqrt{2}`
atan      :math:`(\\theta/2) / (1 + (\\pi\\theta z/2)^2)` (SpikingJelly ATan)   1
sigmoid   :math:`\\theta\\,\\mathrm{sig}(\\theta z)(1 - \\mathrm{sig}(\\theta z))`  1
========= =============================================================== ==================

``paper`` and ``atan`` have the same peak :math:`\\theta/2`; the paper's form integrates to :math:`1/\\sqrt 2`,
not 1, which may be a transcription slip in the paper. It is the default because the project reproduces the
paper; runs report which one they used.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from revsnn_jax.errors import InputError

SURROGATES = ("paper", "atan", "sigmoid")


def check_surrogate(name: str, width: float) -> None:
    """Raises InputError for an unknown surrogate name or a non-positive width."""
    if name not in SURROGATES:
        raise InputError(f"unknown surrogate {name!r}; valid surrogates: {', '.join(SURROGATES)}")
    if not width > 0:
        raise InputError(f"surrogate_width must be > 0, got {width}")


def surrogate_grad(z: jax.Array, name: str = "paper", width: float = 2.0) -> jax.Array:
    """The surrogate derivative :math:`\\sigma'(z)` used in place of :math:`H'(z)`.

    Args:
      z: membrane potential minus threshold, any shape, floating dtype.
      name: one of :data:`SURROGATES`.
      width: :math:`\\theta`.

    Returns:
      An array shaped and typed like ``z``.
    """
    if name == "paper":
        return width / (2.0 + (jnp.pi * width * z) ** 2)
    if name == "atan":
        return (width / 2.0) / (1.0 + (jnp.pi * width * z / 2.0) ** 2)
    if name == "sigmoid":
        sig = jax.nn.sigmoid(width * z)
        return width * sig * (1.0 - sig)
    raise InputError(f"unknown surrogate {name!r}; valid surrogates: {', '.join(SURROGATES)}")


def heaviside(z: jax.Array) -> jax.Array:
    """:math:`H(z)`: 1 where ``z >= 0``, else 0, in the dtype of ``z`` (no gradient rule)."""
    return (z >= 0).astype(z.dtype)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def spike(z: jax.Array, name: str = "paper", width: float = 2.0) -> jax.Array:
    """:math:`H(z)` in the forward pass, :func:`surrogate_grad` in the backward pass.

    Examples:
      >>> jax.grad(lambda z: spike(z, "atan", 2.0))(0.0)
      Array(1., dtype=float32, weak_type=True)
    """
    return heaviside(z)


@spike.defjvp
def _spike_jvp(name, width, primals, tangents):
    (z,), (dz,) = primals, tangents
    return heaviside(z), surrogate_grad(z, name, width) * dz
