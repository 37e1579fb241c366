"""Fixtures for the browser tests: a JupyterLab server on localhost and headless Debian Chromium.

Run with `bash .ci/browser.sh` (installs Chromium and Playwright) or, once they are installed,
`.venv/bin/python -m pytest tests/browser -m browser`; without `-m browser` they are skipped, so
`make test` stays fast. Without Chromium or Playwright they skip too, unless
VAECOURSE_BROWSER_REQUIRED=1 (set by .ci/browser.sh), where they fail.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

import pytest

from .labdriver import LabServer, NotebookPage, wait_for

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
# Where "lessons/NAME" and "fixtures/NAME" come from; copied fresh each time one is opened.
SOURCES = {"lessons": REPO / "notebooks", "fixtures": FIXTURES}
ARTIFACTS = REPO / "artifacts" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REQUIRED = os.environ.get("VAECOURSE_BROWSER_REQUIRED") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Minutes of browser work run only when asked for with `-m browser`, not in `make test`."""
    markexpr = config.getoption("markexpr") or ""
    if "browser" in markexpr and "not browser" not in markexpr:
        return
    skip = pytest.mark.skip(reason="browser test: run with `-m browser` (bash .ci/browser.sh)")
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(skip)


def skip_or_fail(reason: str) -> None:
    """Skip on a developer machine without the browser tools; fail in CI, where they must exist."""
    (pytest.fail if REQUIRED else pytest.skip)(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/status", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def isolated_env(base: Path) -> dict[str, str]:
    """Jupyter config, data, runtime, settings and workspaces in `base`, away from the user's."""
    env = dict(os.environ)
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
                "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
        env[var] = str(base / var.lower())
    env.setdefault("VAECOURSE_DATA", str(REPO / ".cache" / "data"))
    env["PYTHONUNBUFFERED"] = "1"
    # No "get Jupyter news?" toast over the notebook (it would also contact the network).
    settings = base / "jupyterlab_settings_dir" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return env


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab without token on a free localhost port, serving a temporary folder."""
    base = tmp_path_factory.mktemp("jupyter")
    root = base / "root"  # open_notebook copies each notebook in when it is opened
    root.mkdir()
    env = isolated_env(base)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / "jupyter-server.log"
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
               f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True"]
    with open(log, "w") as log_file:
        process = subprocess.Popen(command, env=env, cwd=root, stdout=log_file,
                                   stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: process.poll() is not None or server_ready(url), 120, "/api/status")
        if process.poll() is not None:
            pytest.fail(f"JupyterLab exited with {process.returncode}; see {log}")
        yield LabServer(url=url, root=root, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium, headless, driven by Playwright (which cannot download its own here)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("Playwright for Python is not installed (`pip install playwright`)")
    chromium = os.environ.get("VAECOURSE_CHROMIUM") or shutil.which("chromium")
    if not chromium:
        skip_or_fail("Debian's chromium is not installed (`apt-get install -y chromium`)")
    with sync_playwright() as playwright:
        # launch() gives every run a fresh temporary --user-data-dir.
        browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_notebook(lab_server, browser, request) -> Iterator[Callable[..., NotebookPage]]:
    """`open_notebook("fixtures/x.ipynb" or "lessons/x.ipynb")` → NotebookPage, kernel idle."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    artifacts = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(artifacts, ignore_errors=True)  # no stale screenshots from an earlier run

    def open_(relpath: str) -> NotebookPage:
        folder = relpath.split("/")[0]
        shutil.copytree(SOURCES[folder], lab_server.root / folder, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.py", ".ipynb_checkpoints"))
        page = context.new_page()
        page.set_default_timeout(60_000)
        notebook = NotebookPage(page, lab_server, relpath, artifacts)
        notebook.open()
        return notebook

    try:
        yield open_
    finally:
        context.close()
        lab_server.shutdown_sessions()
