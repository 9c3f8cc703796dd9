"""The GPU check, prepared so that one call measures it the day a GPU is lent (at most 8 minutes on one GPU).

Command (writes ``docs/results/gpu_check.json``)::

    python experiments/gpu_check.py --out docs/results            # on the GPU machine
    python experiments/gpu_check.py --smoke --out /tmp/smoke      # CPU, small shapes (run by the test suite)

What it measures, each configuration in a fresh process (the device's peak counter never resets):

* device peak memory (``memory_stats()["peak_bytes_in_use"]``) and the median time of a training step of
  ``bptt``, ``checkpoint``, the anchored default (``inverse_grad``), ``inverse_grad+low_memory`` and the exact
  time reversal (``exact_rev:reverse``) on VGG-19, T=20, B=128, and of ``bptt``, ``inverse_grad`` and
  ``exact_rev:reverse`` on VGG-11, T=4, B=64; XLA's compiled temp bytes next to each;
* the end-to-end check of the exact reversal on the GPU's own convolution algorithms: gradients of
  ``exact_rev:reverse`` against BPTT of the same network (cosine, relative error, whether the recovered V^0 matched:
  finite gradients), with the parity snapping on (the default) and off (off and still exact means the GPU recomputes
  bit-identically; off and NaN means snapping is what keeps it exact there).

Expected on an H200 (not yet measured: no GPU was lent to this project so far): every configuration runs; reverse's
gradients finite, cosine 1.0 against BPTT.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

FULL = [("vgg19", 20, 128, c) for c in ("bptt", "checkpoint", "inverse_grad", "inverse_grad+low_memory",
                                         "exact_rev:reverse")] + \
       [("vgg11", 4, 64, c) for c in ("bptt", "inverse_grad", "exact_rev:reverse")]
SMOKE = [("vgg_tiny", 3, 4, c) for c in ("bptt", "inverse_grad", "exact_rev:reverse")]
EXACTNESS = {"full": ("vgg11", 4, 16, 32), "smoke": ("vgg_tiny", 3, 4, 8)}   # model, T, B, input size


def measure_one(model: str, timesteps: int, batch: int, label: str, input_size: int, repeats: int) -> dict:
    """One configuration in this process: compiled temp bytes, device peak after real steps, median step time."""
    import jax

    from revsnn_jax import nn
    from revsnn_jax.bench.network import NetworkConfig, random_batch, train_step_for
    from revsnn_jax.compiled import memory_stats
    step, args, (model_, optimizer) = train_step_for(model, NetworkConfig.parse(label), timesteps=timesteps,
                                                     batch_size=batch, input_size=input_size, donate=False)
    temp = memory_stats(step.lower(*args).compile())["temp_bytes"]
    _, params, stats = nn.split(model_)
    state = (params, stats, optimizer.init(params), *random_batch(args))
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        out = jax.block_until_ready(step(*state))
        times.append(time.perf_counter() - t0)
    finite = bool(all(bool(jax.numpy.all(jax.numpy.isfinite(a))) for a in jax.tree.leaves(out[0])))
    device_stats = jax.devices()[0].memory_stats() or {}
    return {"model": model, "timesteps": timesteps, "batch_size": batch, "config": label, "temp_bytes": temp,
            "peak_bytes_in_use": device_stats.get("peak_bytes_in_use"), "step_seconds_median":
            round(statistics.median(times[1:]), 5), "params_finite_after_steps": finite}


def exactness(model: str, timesteps: int, batch: int, input_size: int) -> list[dict]:
    """Gradients of the exact reversal against BPTT of the same fixed-point network, snap on and off."""
    import warnings

    import jax
    import jax.numpy as jnp

    from revsnn_jax import ExactRevLIFParams, nn, train
    from revsnn_jax.bench.neuron import gradient_error
    images = jax.random.normal(jax.random.key(0), (batch, input_size, input_size, 3), jnp.float32)
    labels = jnp.arange(batch) % 10
    rows = []
    for snap in (True, False):
        graphdef, params, stats = nn.split(nn.create_model(model, neuron=ExactRevLIFParams(snap=snap)))

        def grads(strategy):
            loss = train.make_loss(graphdef, timesteps=timesteps, strategy=strategy)
            return jax.jit(jax.grad(lambda p: loss(p, stats, images, labels)[0]))(params)

        ref = grads("bptt")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = jax.block_until_ready(grads("reverse"))
        finite = bool(all(bool(jnp.all(jnp.isfinite(a))) for a in jax.tree.leaves(got)))
        err = gradient_error(got, ref) if finite else {}
        rows.append({"model": model, "timesteps": timesteps, "batch_size": batch, "snap": snap,
                     "v0_check_passed": finite, "warnings": [str(w.message)[:200] for w in caught], **err})
    return rows


def _child(kind: str, spec: list, timeout: float) -> dict:
    code = (f"import json, sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
            f"import gpu_check as g; print(json.dumps(g.{kind}(*{spec!r})))")
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1][:300] if proc.stderr.strip() else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="small shapes (CPU): checks the script itself")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds; configurations past it are skipped")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="docs/results")
    args = parser.parse_args(argv)
    import jax
    started = time.perf_counter()
    cells = SMOKE if args.smoke else FULL
    input_size = 8 if args.smoke else 32
    rows = []
    for model, t, b, label in cells:
        left = args.budget - (time.perf_counter() - started)
        if left < 20:
            rows.append({"model": model, "timesteps": t, "batch_size": b, "config": label, "skipped": "budget"})
            continue
        row = _child("measure_one", [model, t, b, label, input_size, args.repeats], left)
        rows.append({"model": model, "timesteps": t, "batch_size": b, "config": label, **row})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    spec = list(EXACTNESS["smoke" if args.smoke else "full"])
    left = max(args.budget - (time.perf_counter() - started), 60.0)
    check = _child("exactness", spec, left)
    result = {"command": "python experiments/gpu_check.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "backend": jax.default_backend(), "device": str(jax.devices()[0].device_kind), "jax": jax.__version__,
              "seconds": round(time.perf_counter() - started, 1), "rows": rows,
              "exactness": check if isinstance(check, list) else [check]}
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "gpu_check.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(f"wrote {path} ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
