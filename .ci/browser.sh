#!/usr/bin/env bash
# The course as a learner uses it: JupyterLab in headless Debian Chromium, driven by Playwright
# for Python (which cannot download a browser here, so it uses /usr/bin/chromium). Installs both
# if missing, then runs tests/browser (screenshots in artifacts/browser/). Needs .venv.
# About 1.5 min on the fixtures; each lesson adds its Run All time (minutes the first time, while
# the model bank is trained and cached under $VAECOURSE_DATA).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV=${VENV:-.venv}

echo "=== $(date +%T) browser: install Chromium and Playwright"
if ! command -v chromium >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null  # emoji: the ✅ ❌ ⏳ checks
fi
"$VENV/bin/python" -c "import playwright" 2>/dev/null ||
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "playwright>=1.45,<2"
chromium --version

echo "=== $(date +%T) browser: JupyterLab notebooks in Chromium"
export VAECOURSE_BROWSER_REQUIRED=1  # a missing browser or Playwright fails instead of skipping
export VAECOURSE_DATA=${VAECOURSE_DATA:-$PWD/.cache/data}
"$VENV/bin/python" -m pytest tests/browser -m browser -v -rs --durations=0
