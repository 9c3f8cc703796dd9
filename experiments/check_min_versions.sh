#!/usr/bin/env bash
# Checks pyproject's lower bounds: a fresh virtual environment with the oldest supported versions
# (experiments/min_versions.txt, used as pip constraints) and the test suite, or the tests given as arguments.
#   bash experiments/check_min_versions.sh                      # the default suite
#   bash experiments/check_min_versions.sh tests/test_train.py  # some of it
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${MIN_VENV:-.min-venv}"
rm -rf "$venv"
python3 -m venv "$venv"
. "$venv/bin/activate"
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -c experiments/min_versions.txt -e ".[test]"
python -m pip freeze | grep -i -E "^(jax|jaxlib|flax|optax|chex|numpy|matplotlib|orbax-checkpoint|scikit-learn|tensorflow-datasets|tqdm|nir)=="
python -m pytest -q "$@"
