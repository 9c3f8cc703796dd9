"""Heaviside spike function with surrogate gradients (pure JAX).

The forward pass is the Heaviside step :math:`H(z) = 1` for :math:`z \\ge 0`, else 0. Its derivative is replaced
by a smooth surrogate :math:`\\sigma'(z)` of width parameter :math:`\\theta`:

=======  =================================================================================  ==================
name     :math:`\\sigma'(z)`                                                                 integral over z
=======  =================================================================================  ==================
paper    :math:`\\theta / (2 + (\\pi\\theta z)^2)` (Eq. 11-12 of the paper)                    :math:`1/\\sqrt{2}`
atan     :math:`(\\theta/2) / (1 + (\\pi\\theta z/2)^2)` (SpikingJelly ATan)                   1
sigmoid  :math:`\\theta\\,\\mathrm{sig}(\\theta z)(1 - \\mathrm{sig}(\\theta z))`                 1
dspike   :math:`\\frac{b}{2\\tanh(b h)}\\mathrm{sech}^2(b z)` on :math:`|z| \\le h`, 0 outside  1
=======  =================================================================================  ==================

``paper`` and ``atan`` have the same peak :math:`\\theta/2`; the paper's form integrates to :math:`1/\\sqrt 2`,
not 1, which may be a transcription slip in the paper. It is the default because the project reproduces the
paper; runs report which one they used.

``dspike`` is the derivative of Li et al.'s Dspike function (NeurIPS 2021), the tanh family
:math:`(\\tanh(b (x - c)) + \\tanh(b c)) / (2 \\tanh(b c))` on :math:`0 \\le x \\le 2c` written in
:math:`z = x - c`: its width parameter is the temperature :math:`b` and ``support`` is the half-width :math:`h`
(default 1/2, the paper's normalised form with the threshold at the middle of ``[0, 1]``). It integrates to 1 for
every :math:`b`; :math:`b \\to 0` gives the rectangle :math:`1/(2h)` (the straight-through estimator) and large
:math:`b` a narrow peak of height :math:`b / (2\\tanh(b h))`. The temperature is searched during training by
:mod:`revsnn_jax.methods.dspike`. ``support`` applies to ``dspike`` only.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from revsnn_jax.errors import InputError

SURROGATES = ("paper", "atan", "sigmoid", "dspike")
DEFAULT_SUPPORT = 0.5
"""Dspike's default half-width :math:`h` (the paper's normalised form)."""


def check_surrogate(name: str, width: float, support: float = DEFAULT_SUPPORT) -> None:
    """Raises InputError for an unknown surrogate name, a non-positive (or non-finite) width or support, or a
    support given to a surrogate other than ``dspike``."""
    if name not in SURROGATES:
        raise InputError(f"unknown surrogate {name!r}; valid surrogates: {', '.join(SURROGATES)}")
    if not 0 < width < float("inf"):
        raise InputError(f"surrogate_width must be a finite number > 0, got {width}")
    if not 0 < support < float("inf"):
        raise InputError(f"surrogate_support must be a finite number > 0, got {support}")
    if name != "dspike" and support != DEFAULT_SUPPORT:
        raise InputError(f"surrogate_support is the half-width of dspike's support; surrogate {name!r} has none")


def of(p) -> tuple[str, float, float]:
    """``(name, width, support)`` of a neuron's params ``p``: the arguments ``spike`` and
    :func:`surrogate_grad` take after ``z``."""
    return p.surrogate, p.surrogate_width, p.surrogate_support


def surrogate_grad(z: jax.Array, name: str = "paper", width: float = 2.0,
                   support: float = DEFAULT_SUPPORT) -> jax.Array:
    """The surrogate derivative :math:`\\sigma'(z)` used in place of :math:`H'(z)`.

    Args:
      z: membrane potential minus threshold, any shape, floating dtype.
      name: one of ``SURROGATES``.
      width: :math:`\\theta` (``dspike``: the temperature :math:`b`).
      support: ``dspike``'s half-width :math:`h` (ignored by the others).

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
    if name == "dspike":
        return dspike_grad(z, width, support)
    raise InputError(f"unknown surrogate {name!r}; valid surrogates: {', '.join(SURROGATES)}")


def dspike_grad(z: jax.Array, temperature: float, support: float = DEFAULT_SUPPORT) -> jax.Array:
    """Dspike's derivative :math:`\\frac{b}{2\\tanh(b h)}\\mathrm{sech}^2(b z)` for :math:`|z| \\le h`, else 0.

    Examples:
      >>> round(float(dspike_grad(jnp.float32(0.0), 1.0)), 5)   # the peak at b = 1, h = 1/2
      1.08198
    """
    b, h = temperature, support
    sech = 1.0 / jnp.cosh(b * z)
    return jnp.where(jnp.abs(z) <= h, (b / (2.0 * math.tanh(b * h))) * sech * sech, 0.0).astype(z.dtype)


def heaviside(z: jax.Array) -> jax.Array:
    """:math:`H(z)`: 1 where ``z >= 0``, else 0, in the dtype of ``z`` (no gradient rule)."""
    return (z >= 0).astype(z.dtype)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3))
def spike(z: jax.Array, name: str = "paper", width: float = 2.0, support: float = DEFAULT_SUPPORT) -> jax.Array:
    """:math:`H(z)` in the forward pass, :func:`surrogate_grad` in the backward pass.

    Examples:
      >>> jax.grad(lambda z: spike(z, "atan", 2.0))(0.0)
      Array(1., dtype=float32, weak_type=True)
    """
    return heaviside(z)


@spike.defjvp
def _spike_jvp(name, width, support, primals, tangents):
    (z,), (dz,) = primals, tangents
    return heaviside(z), surrogate_grad(z, name, width, support) * dz
