"""Several processes, one run: joining JAX's distributed runtime, and the few things the processes of a run agree
on outside the training step (the step itself is one SPMD program; XLA's collectives carry the gradients).

* :func:`initialize` joins the run: ``--coordinator-address HOST:PORT --num-processes N --process-id I``, or, with
  none of them, JAX's own detection where the environment names a cluster (SLURM with more than one task, or
  ``JAX_COORDINATOR_ADDRESS`` set). On CPU the collectives go over gloo.
* :class:`Team` is what the training loop asks: am I process 0 (the one that writes files and holds the workdir's
  lock); does every process have the same configuration (a mismatch is an error on every process, not a hang);
  did process 0's checks pass (its error, raised on every process); did any process ask to stop (a signal), so
  that all stop at the same step.

A process that dies makes the others fail within about :data:`HEARTBEAT_SECONDS`: a collective with it fails at
once (gloo: connection reset), and the coordination service, which misses its heartbeats, ends the rest.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import sys

import numpy as np

from revsnn_jax.errors import InputError

_STOP: dict[str, str | None] = {"signal": None}   # set by the handlers of catch_signals()
HEARTBEAT_SECONDS = 20
"""How long a silent process is waited for before the run is ended everywhere (JAX's default is 100 s)."""
TEXT_BYTES = 8192


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> bool:
    """Joins a multi-process run before anything touches a device; returns whether one was joined. The three
    settings come together or not at all."""
    import jax

    given = {"coordinator_address": coordinator_address, "num_processes": num_processes, "process_id": process_id}
    if any(v is not None for v in given.values()):
        missing = [k for k, v in given.items() if v is None]
        if missing:
            raise InputError(f"a multi-process run needs --coordinator-address, --num-processes and --process-id "
                             f"together; missing: {', '.join('--' + m.replace('_', '-') for m in missing)}")
        host, _, port = coordinator_address.rpartition(":")
        if not host or not port.isdigit():
            raise InputError(f"--coordinator-address is HOST:PORT, got {coordinator_address!r}")
        if num_processes < 1 or not 0 <= process_id < num_processes:
            raise InputError(f"--process-id must be in [0, {num_processes}), got {process_id}")
    elif not detected():
        return False
    jax.config.update("jax_cpu_collectives_implementation", "gloo")   # CPU only; GPUs use NCCL
    jax.distributed.initialize(coordinator_address, num_processes, process_id,
                               heartbeat_timeout_seconds=HEARTBEAT_SECONDS)
    return True


def quiet_native_stdout() -> None:
    """Native libraries' prints (gloo announces its peers on stdout) go to stderr from now on; Python's
    ``sys.stdout`` keeps the real stdout, so that ``--json`` prints one JSON object there and nothing else."""
    sys.stdout.flush()
    real = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = os.fdopen(real, "w", buffering=1)


def detected() -> bool:
    """Whether the environment names a multi-process run JAX can join by itself."""
    return bool(os.environ.get("JAX_COORDINATOR_ADDRESS")) or int(os.environ.get("SLURM_NTASKS", "1") or 1) > 1


def free_port() -> int:
    """A free TCP port on this host (for a coordinator on 127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Team:
    """The processes of this run as the training loop sees them (one process: every method is trivial)."""

    def __init__(self):
        import jax
        self.count, self.index = jax.process_count(), jax.process_index()
        self.multi, self.primary = self.count > 1, self.index == 0

    # --- agreements -----------------------------------------------------------------------------------------
    def check_same(self, text: str, what: str) -> None:
        """InputError on every process unless all hold the same ``text`` (naming the processes that differ)."""
        if not self.multi:
            return
        from jax.experimental import multihost_utils
        digest = np.frombuffer(hashlib.sha256(text.encode()).digest(), np.uint8)
        digests = np.asarray(multihost_utils.process_allgather(digest))
        differ = [i for i in range(self.count) if not np.array_equal(digests[i], digests[0])]
        if differ:
            raise InputError(f"the processes of this run have different {what}s: process(es) "
                             f"{', '.join(map(str, differ))} differ from process 0; start every process with the "
                             "same command")

    def on_primary(self, fn) -> None:
        """Runs ``fn`` on process 0 only; an InputError it raises is raised on every process (the others say that
        process 0 refused), so that no process goes on alone."""
        error = None
        if self.primary:
            try:
                fn()
            except InputError as e:
                error = str(e)
        if self.multi:
            error = self.broadcast_text(error)
        if error is not None:
            raise InputError(error if self.primary else f"process 0 refused the run: {error}")

    def broadcast_text(self, text: str | None) -> str | None:
        from jax.experimental import multihost_utils
        buf = np.zeros(TEXT_BYTES + 1, np.uint8)
        if self.primary and text is not None:
            raw = text.encode()[:TEXT_BYTES]
            buf[0], buf[1:1 + len(raw)] = 1, np.frombuffer(raw, np.uint8)
        out = np.asarray(multihost_utils.broadcast_one_to_all(buf))
        return bytes(out[1:]).rstrip(b"\0").decode(errors="replace") if out[0] else None

    def barrier(self, name: str) -> None:
        if self.multi:
            from jax.experimental import multihost_utils
            multihost_utils.sync_global_devices(name)

    def stop_requested(self) -> str | None:
        """The signal any process received (``"SIGINT"``/``"SIGTERM"``; see :func:`catch_signals`), agreed by all
        at this step; None to go on."""
        if not self.multi:
            return None
        from jax.experimental import multihost_utils
        flags = np.asarray(multihost_utils.process_allgather(
            np.int32({None: 0, "SIGINT": 1, "SIGTERM": 2}[_STOP["signal"]])))
        return {0: None, 1: "SIGINT", 2: "SIGTERM"}[int(flags.max())]


def catch_signals():
    """For a multi-process run: SIGINT and SIGTERM only mark a stop, which :meth:`Team.stop_requested` turns into
    the same interrupt on every process at the same step. Returns a function restoring the previous handlers."""
    def mark(signum, _frame):
        _STOP["signal"] = signal.Signals(signum).name

    _STOP["signal"] = None
    previous = {s: signal.signal(s, mark) for s in (signal.SIGINT, signal.SIGTERM)}
    return lambda: [signal.signal(s, h) for s, h in previous.items()]


def is_primary() -> bool:
    import jax
    return jax.process_index() == 0


def lost_peer_message(error: BaseException, index: int, count: int) -> str:
    """One line for a process whose run failed in a collective because another process stopped."""
    first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
    return (f"process {index} of {count}: another process of this run stopped or failed ({first}); every process "
            "stops. Start all of them again with --resume to continue from the last checkpoint")


def exit_now(code: int) -> None:
    """Ends this process at once: after a lost peer, JAX's shutdown would wait for it and then abort."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
