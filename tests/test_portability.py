"""Learners on Windows: nothing on the learner's path needs a POSIX-only module without a fallback."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import torch

import vaecourse
from vaecourse import bank

POSIX_ONLY = ("fcntl", "resource", "termios", "pwd", "grp", "pty", "tty")
LEARNER_MODULES = ("config", "data", "models", "losses", "runtime", "train", "analysis", "checkpoints", "plotting",
                   "plotting_latent", "widgets", "bank", "ensemble", "checks")


def _unguarded_posix_imports(path: Path) -> list[str]:
    """POSIX-only imports in a module that are not inside `try: ... except ImportError` (line: name)."""
    tree = ast.parse(path.read_text())
    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError") for h in node.handlers):
            guarded.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found = []
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                 [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        for name in names:
            if name.split(".")[0] in POSIX_ONLY and id(node) not in guarded:
                found.append(f"{path.name}:{node.lineno}: {name}")
    return found


def test_the_learners_modules_need_no_posix_only_module_without_a_fallback():
    """Every module a lesson uses imports fcntl & co. only inside try/except ImportError (Windows has none)."""
    package = Path(vaecourse.__file__).parent
    found = [hit for module in LEARNER_MODULES for path in sorted(package.glob(f"{module}.py")) + sorted(
        (package / module).glob("*.py")) for hit in _unguarded_posix_imports(path)]
    assert not found, found


def test_the_posix_import_check_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nimport fcntl\ntry:\n    import resource\nexcept ImportError:\n    resource = None\n")
    assert _unguarded_posix_imports(bad) == ["bad.py:2: fcntl"]


def test_the_bank_lock_falls_back_where_there_is_no_fcntl(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "fcntl", None)
    with bank._build_lock(tmp_path / "bank.pt"):
        torch.save({"x": 1}, tmp_path / "bank.pt")
    assert torch.load(tmp_path / "bank.pt") == {"x": 1}
    assert not (tmp_path / "bank.lock").exists()  # no lock file: the fallback really ran
