#!/usr/bin/env bash
# Build .venv-colab: Colab's Jupyter/widget stack (ipywidgets 7.7.1, IPython 7.34, ipykernel 6.17)
# in a venv of its own, reusing the main venv's heavy packages (torch, numpy, matplotlib, ...)
# without a second multi-GB download: a .pth file appends the main venv's site-packages to
# sys.path *after* the venv's own, so the pinned packages installed here take precedence.
# Idempotent: rebuilds only when colab-preinstalled.txt or this script changed.
# Usage: bash tests/colab/make_venv.sh   (env MAIN_VENV=.venv COLAB_VENV=.venv-colab)
set -euo pipefail
cd "$(dirname "$0")/../.."
MAIN_VENV=${MAIN_VENV:-.venv}
COLAB_VENV=${COLAB_VENV:-.venv-colab}
PINS=tests/colab/colab-preinstalled.txt
STAMP="$COLAB_VENV/.built-from"
WANT=$(cat "$PINS" "$0" | sha256sum | cut -d' ' -f1)

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
  echo "make_venv: $COLAB_VENV is up to date"
else
  rm -rf "$COLAB_VENV"
  "$MAIN_VENV/bin/python" -m venv "$COLAB_VENV"
  PIP=("$COLAB_VENV/bin/python" -m pip --disable-pip-version-check -q)
  # The widget stack first, while the venv sees nothing else: pip resolves it on its own.
  "${PIP[@]}" install -c "$PINS" ipywidgets ipython ipykernel notebook
  # The course package itself, editable, without deps (they come from the main venv).
  "${PIP[@]}" install --no-deps -e .
  SITE=$("$COLAB_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
  MAIN_SITE=$("$MAIN_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
  # Named to sort last; site.py appends its line after this venv's own site-packages.
  echo "$MAIN_SITE" > "$SITE/zzz_main_venv_site_packages.pth"
  echo "$WANT" > "$STAMP"
fi

# Prove what the venv resolves to: pinned widget stack from here, torch from the main venv.
"$COLAB_VENV/bin/python" - "$COLAB_VENV" "$MAIN_VENV" <<'PY'
import sys
from pathlib import Path

import IPython, ipykernel, ipywidgets, torch, vaecourse

colab, main = (Path(p).resolve() for p in sys.argv[1:])
assert ipywidgets.__version__ == "7.7.1", ipywidgets.__version__
assert IPython.version_info[:2] == (7, 34), IPython.__version__
for module in (ipywidgets, IPython, ipykernel):
    assert Path(module.__file__).resolve().is_relative_to(colab), module.__file__
assert Path(torch.__file__).resolve().is_relative_to(main), torch.__file__
print(f"make_venv: ipywidgets {ipywidgets.__version__}, IPython {IPython.__version__}, "
      f"ipykernel {ipykernel.__version__} from {colab.name}; torch {torch.__version__} from "
      f"{main.name}; vaecourse from {Path(vaecourse.__file__).parent}")
PY
