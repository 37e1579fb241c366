#!/usr/bin/env bash
# Run pytest inside .venv-colab (Colab's ipywidgets 7.7.1 and IPython 7.34, see make_venv.sh).
# A keyword that ipywidgets 7 does not know (e.g. ipywidgets 8's `tooltip=`) is only a
# DeprecationWarning there, silently ignored on Colab: it is turned into an error here.
# Usage: bash tests/colab/run_tests.sh [pytest args]
#   no args: the package and widget tests (tests/ minus browser, colab, notebook and slow tests).
#   COLAB_VENV=.venv runs the same command in the main venv (ipywidgets 8), for comparison.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
COLAB_VENV=${COLAB_VENV:-.venv-colab}
[[ -x "$COLAB_VENV/bin/python" ]] || {
  echo "run_tests: no $COLAB_VENV; build it with: bash tests/colab/make_venv.sh" >&2; exit 2; }
if [[ $# -eq 0 ]]; then
  set -- tests -n 2 --dist loadfile -m "not slow and not browser and not accelerator" \
    --ignore=tests/browser --ignore=tests/colab --ignore=tests/test_colab_install.py \
    --ignore-glob='tests/test_notebook*'
fi
export PYDEVD_DISABLE_FILE_VALIDATION=1  # debugpy (ipykernel 6) chatter on Python 3.11
rc=0
"$COLAB_VENV/bin/python" -m pytest -p no:cacheprovider \
  -W "error:Passing unrecognized arguments:DeprecationWarning" "$@" || rc=$?
if [[ $rc -eq 5 ]]; then echo "run_tests: pytest collected no tests from: $*" >&2; fi
exit $rc
