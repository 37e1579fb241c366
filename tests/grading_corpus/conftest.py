"""The corpus holds broken submissions on purpose: never collect them as tests (e.g. with --nbval-lax)."""

collect_ignore_glob = ["*.ipynb", "*.py"]
