"""The notebooks' Colab install cell must not upgrade what Colab preinstalls (torch, ipywidgets, ...).

For each lesson, the pip command in its first code cell is resolved by pip itself
(`pip install --dry-run --report`) against an environment where Colab's versions count as installed:
a bare venv holding only fake `*.dist-info` metadata (name + version, no code, no dependencies) for
each line of tests/colab/colab-preinstalled.txt. The course's own package (a git URL or the name
`vaecourse` in the cell) is replaced by this checkout. The report must install none of those
packages. Needs PyPI (pip builds the course's metadata in an isolated env, and looks up any
dependency that Colab lacks). Markers are evaluated for this machine's Python 3.11; Colab runs 3.13.

The cell this expects looks like (any of `%pip`, `!pip`, `!python -m pip`, `!{sys.executable} -m pip`):
    import sys
    if "google.colab" in sys.modules:
        %pip install -q "vaecourse @ git+https://github.com/ORG/REPO"
"""
from __future__ import annotations

import functools
import json
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PINS = REPO / "tests" / "colab" / "colab-preinstalled.txt"
LESSONS = ["00_start_here.ipynb", "01_reconstruction_loss.ipynb",
           "02_vae_objective.ipynb", "03_latent_space.ipynb", "04_best_model.ipynb"]
PIP_INSTALL = re.compile(
    r"^\s*[!%]\s*(?:(?:\{[^}]*\}|\S*python[\d.]*)\s+-m\s+)?pip3?\s+install\s+(?P<args>.*)$", re.M)
COURSE = re.compile(r"^vaecourse(?P<extras>\[[^\]]*\])?(?:\s*@.*)?$", re.I)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def colab_pins() -> dict[str, str]:
    """{canonical name: version} from colab-preinstalled.txt."""
    lines = (line.split("#")[0].strip() for line in PINS.read_text().splitlines())
    return {canonical(name): version for name, version in
            (line.split("==") for line in lines if line)}


def install_commands(source: str) -> list[list[str]]:
    """The argument lists of every pip install line in a cell's source."""
    source = source.replace("\\\n", " ")
    return [shlex.split(m["args"], comments=True) for m in PIP_INSTALL.finditer(source)]


def with_local_course(args: list[str]) -> list[str]:
    """Replace the course's own requirement (name, `name @ URL`, git or https URL) by this checkout."""
    out: list[str] = []
    for arg in args:
        course = COURSE.match(arg)
        if course:
            out.append(f"{REPO}{course['extras'] or ''}")
        elif arg.startswith(("git+", "https://", "http://")):
            if not (out and out[-1].startswith(str(REPO))):  # else: the URL of `vaecourse @ URL`
                out.append(str(REPO))
        elif arg != "@":
            out.append(arg)
    return out


def first_code_cell(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code, f"{notebook.name} has no code cell"
    source = code[0]["source"]
    return source if isinstance(source, str) else "".join(source)


@pytest.fixture(scope="module")
def fake_colab(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A bare venv whose site-packages holds only metadata for Colab's preinstalled versions."""
    root = tmp_path_factory.mktemp("fake-colab")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    for name, version in colab_pins().items():
        info = Path(site) / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        (info / "INSTALLER").write_text("vaecourse-fake-colab\n")
        (info / "RECORD").write_text("")
    return str(python)


@functools.lru_cache(maxsize=None)
def would_install(python: str, args: tuple[str, ...]) -> dict[str, str]:
    """{canonical name: version} that `pip install *args` would install in `python`'s env."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pip", "--python", python, "install",
                   "--dry-run", "--quiet", "--disable-pip-version-check", "--report", str(report),
                   *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"pip cannot resolve {args} on Colab:\n{done.stderr[-3000:]}"
        installs = json.loads(report.read_text())["install"]
    return {canonical(i["metadata"]["name"]): i["metadata"]["version"] for i in installs}


def colab_packages_changed(cell: str, python: str) -> dict[str, str]:
    """'name': 'colab version -> new version' for each preinstalled package the cell would replace."""
    commands = install_commands(cell)
    assert commands, f"no `pip install` line in the install cell:\n{cell}"
    pins, changed = colab_pins(), {}
    for args in commands:
        for name, version in would_install(python, tuple(with_local_course(args))).items():
            if name in pins:
                changed[name] = f"{pins[name]} -> {version}"
    return changed


def lesson_names() -> list[str]:
    found = {p.name for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    return sorted(set(LESSONS) | found)


@pytest.mark.parametrize("name", lesson_names())
def test_install_cell_leaves_colab_packages_alone(name, fake_colab):
    notebook = REPO / "notebooks" / name
    if not notebook.exists():
        pytest.skip(f"notebooks/{name} does not exist yet (being written)")
    changed = colab_packages_changed(first_code_cell(notebook), fake_colab)
    assert not changed, f"{name}'s install cell would replace Colab's preinstalled {changed}"


def test_plain_course_install_changes_nothing_on_colab(fake_colab):
    cell = 'import sys\nif "google.colab" in sys.modules:\n' \
           '    %pip install -q "vaecourse @ git+https://github.com/ORG/REPO"\n'
    assert colab_packages_changed(cell, fake_colab) == {}


def test_check_catches_an_install_that_upgrades_ipywidgets(fake_colab):
    cell = '!pip install -q vaecourse@git+https://github.com/ORG/REPO "ipywidgets>=8"'
    changed = colab_packages_changed(cell, fake_colab)
    assert changed["ipywidgets"].startswith("7.7.1 -> 8.")


@pytest.mark.parametrize("line, expected", [
    ('%pip install -q "vaecourse @ git+https://github.com/ORG/REPO"', ["-q", str(REPO)]),
    ("    !pip install vaecourse @ git+https://github.com/ORG/REPO  # the course", [str(REPO)]),
    ("!{sys.executable} -m pip install --quiet vaecourse[colab]", ["--quiet", f"{REPO}[colab]"]),
    ("!python3 -m pip install git+https://github.com/ORG/REPO torch==2.11.0",
     [str(REPO), "torch==2.11.0"]),
])
def test_install_line_is_parsed_and_pointed_at_this_checkout(line, expected):
    [args] = install_commands(f"import sys\n{line}\nprint('ok')")
    assert with_local_course(args) == expected
