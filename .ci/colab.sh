#!/usr/bin/env bash
# Colab's versions: build .venv-colab (ipywidgets 7.7.1, IPython 7.34; torch & co reused from
# .venv), run the package and widget tests in it, then, from .venv, check that this run catches
# ipywidgets-8-only widget code and that the notebooks' Colab install cell upgrades nothing Colab
# preinstalls (pip dry-run). Needs .venv (`make setup`) and PyPI. About 5 min cold, 3 warm.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV=${VENV:-.venv}
export PIP_PROGRESS_BAR=off

echo "=== $(date +%T) colab: build .venv-colab"
bash tests/colab/make_venv.sh

echo "=== $(date +%T) colab: package and widget tests under Colab's versions"
bash tests/colab/run_tests.sh

echo "=== $(date +%T) colab: the Colab run catches ipywidgets 8 code; install cell dry-run"
VAECOURSE_COLAB_REQUIRED=1 "$VENV/bin/python" -m pytest -q -rs tests/colab tests/test_colab_install.py
