"""Bit planes: small integer codes packed densely, 8 flags per byte (pure JAX).

A neuron that keeps ``nbits`` bits per element for the time-reversing loop returns them as one int32 code per
element; :func:`pack` stores bit ``b`` of every element in plane ``b``, each plane packed along the last axis, so
memory is ``nbits`` bits per element (plus padding of the last axis to a multiple of 8).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def pack(code: jax.Array, nbits: int) -> jax.Array:
    """``code [..., C]`` (the low ``nbits`` bits used) -> ``uint8 [..., nbits, ceil(C/8)]``."""
    shifts = jnp.arange(nbits, dtype=jnp.int32).reshape((1,) * (code.ndim - 1) + (nbits, 1))
    planes = ((code.astype(jnp.int32)[..., None, :] >> shifts) & 1).astype(jnp.bool_)
    return jnp.packbits(planes, axis=-1)


def unpack(packed: jax.Array, nbits: int, width: int) -> jax.Array:
    """Inverse of :func:`pack`: ``uint8 [..., nbits, ceil(C/8)]`` -> uint8 ``[..., C]`` with ``C = width``
    (``nbits <= 8``)."""
    if nbits > 8:
        raise ValueError(f"at most 8 bits per element unpack into uint8, got {nbits}")
    bits = jnp.unpackbits(packed, axis=-1, count=width)
    shifts = jnp.arange(nbits, dtype=jnp.uint8).reshape((1,) * (bits.ndim - 2) + (nbits, 1))
    return jnp.sum(bits << shifts, axis=-2, dtype=jnp.uint8)
