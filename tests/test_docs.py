"""The README's code runs as written."""

import os
import re

import numpy as np

README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")


def test_readme_python_blocks_run_as_written(tmp_path, monkeypatch, capsys):
    with open(README) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)   # nothing they write lands in the checkout
    namespace = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
    # what the blocks promise: the neuron's inverse recovers its input; the training step returns finite metrics
    np.testing.assert_allclose(namespace["x_rec"], namespace["x"], atol=1e-4)
    assert namespace["ys"].shape == (20, 16, 256)
    assert bool(namespace["metrics"]["finite"]) and np.isfinite(float(namespace["metrics"]["loss"]))
    assert "True" in capsys.readouterr().out


def test_nir_doc_python_blocks_run_as_written(tmp_path, monkeypatch):
    with open(os.path.join(os.path.dirname(__file__), os.pardir, "docs", "nir.md")) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/nir.md python block {i + 1}", "exec"), namespace)
    assert (tmp_path / "resnet18.nir").is_file()
    assert namespace["net"].shapes["head"] == (10,) and len(namespace["graph"].nodes) == 42
