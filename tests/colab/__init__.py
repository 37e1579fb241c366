"""Colab-version checks: a venv with Colab's ipywidgets 7.7.1 / IPython 7.34 (see make_venv.sh)."""
