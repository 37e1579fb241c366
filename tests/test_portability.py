"""Learners on Windows: nothing on the learner's path needs a POSIX-only module without a fallback."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import torch

from vaecourse import bank

POSIX_ONLY = ("fcntl", "resource", "termios", "pwd", "grp", "pty", "tty")
LEARNER_MODULES = ("config", "data", "models", "losses", "runtime", "train", "analysis", "checkpoints", "plotting",
                   "plotting_latent", "widgets", "bank", "ensemble", "checks")


def test_the_learners_modules_import_without_posix_only_modules():
    """Imports every module a lesson uses in a Python where the POSIX-only modules do not exist."""
    code = textwrap.dedent(f"""
        import sys
        for name in {POSIX_ONLY!r}:
            sys.modules[name] = None  # `import fcntl` now raises ImportError, as on Windows
        import importlib
        for module in {LEARNER_MODULES!r}:
            importlib.import_module("vaecourse." + module)
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_the_bank_lock_falls_back_where_there_is_no_fcntl(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "fcntl", None)
    with bank._build_lock(tmp_path / "bank.pt"):
        torch.save({"x": 1}, tmp_path / "bank.pt")
    assert torch.load(tmp_path / "bank.pt") == {"x": 1}
    assert not (tmp_path / "bank.lock").exists()  # no lock file: the fallback really ran
