"""Modules that moved in 0.3 (one package per subsystem), importable under their old names.

``import revsnn_jax.event_datasets`` (and ``from revsnn_jax import online``) keep working: the old name is an alias
of the new module, the same object, imported on first use. An old module whose names went to several new ones
is a module that looks each name up in them in turn. New code should use the new names.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types

MOVED: dict[str, tuple[str, ...]] = {
    "revsnn_jax.events": ("revsnn_jax.data.events.streams",),
    "revsnn_jax.event_io": ("revsnn_jax.data.events.formats",),
    "revsnn_jax.event_datasets": ("revsnn_jax.data.events.datasets", "revsnn_jax.data.cifar",
                                  "revsnn_jax.data.cache"),
    "revsnn_jax.prepared": ("revsnn_jax.data.cache",),
    "revsnn_jax.tiny_imagenet": ("revsnn_jax.data.tiny_imagenet",),
    "revsnn_jax.online": ("revsnn_jax.methods.online",),
    "revsnn_jax.dspike": ("revsnn_jax.methods.dspike",),
    "revsnn_jax.sparse": ("revsnn_jax.methods.sparse",),
    "revsnn_jax.nn.methods": ("revsnn_jax.methods",),
    "revsnn_jax.workdir": ("revsnn_jax.train.rundir",),
    "revsnn_jax.checkpoints": ("revsnn_jax.train.checkpoints",),
}
"""Old module name -> the module(s) its names live in now (looked up in this order)."""


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        return importlib.util.spec_from_loader(fullname, self) if fullname in MOVED else None

    def create_module(self, spec):
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        targets = [importlib.import_module(name) for name in MOVED[module.__name__]]
        if len(targets) == 1:   # the import system returns whatever sys.modules holds once this returns
            sys.modules[module.__name__] = targets[0]
            return
        module.__doc__ = f"Moved: the names of this module now live in {', '.join(MOVED[module.__name__])}."

        def __getattr__(name):
            for target in targets:
                if hasattr(target, name):
                    return getattr(target, name)
            raise AttributeError(f"module {module.__name__!r} (moved to {', '.join(MOVED[module.__name__])}) has "
                                 f"no attribute {name!r}")

        module.__getattr__ = __getattr__


def install() -> None:
    """Makes the old names importable (idempotent)."""
    if not any(isinstance(finder, _Alias) for finder in sys.meta_path):
        sys.meta_path.append(_Alias())
