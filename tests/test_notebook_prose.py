"""What the notebooks say is what they show: every measured number in markdown is in a saved output.

Runs on the committed notebooks' SAVED outputs (no kernel). The rule, documented in CONTRIBUTING
("Numbers in prose"):
* a number quoted in a markdown cell is a *measurement* if it has a decimal point or a % sign, or
  is an integer of 2 digits or more; it must appear, to the precision written (the output rounds
  to it; a percentage may also be printed as a fraction, 0.132 for 13 %), in the text outputs of
  a *nearby* code cell: the code cells of the same section (between `#` / `##` headings) and the
  3 code cells before and after the markdown cell. A markdown cell that contains
  `<!-- numbers: whole notebook -->` (e.g. a summary table) looks in every output.
* not measurements, never checked: numbers in LaTeX math ($…$, $$…$$: equations and constants),
  in code spans and fenced code, in links and headings, section numbers ("section 9.1", "§ 3", or
  any number that a heading of the notebook starts with, e.g. "in 4.2" under "## 4.2 ..."),
  durations ("99 s", "45 minutes": timings depend on the machine), years (1900–2099), the course's
  sizes in COURSE_CONSTANTS (784 pixels, 60 000 images, layer widths), and any number (not a
  percentage) that also appears as a literal in a code cell's SOURCE, comments excluded (a setting
  or hyper-parameter: `sigma=0.2`, `N_SMALL = 300`);
* anything else goes into ALLOWED below with its reason. A reason that starts with a repository
  file ("benchmarks/RESULTS.md: ...") is checked: the number must appear in that file.
Comparative claims ("X wins", "the hardest are 8s and 2s") are checked by CLAIMS: the sentence, and a
function of the saved outputs that must hold for it; reword the sentence and its entry goes stale (fails).
Markdown must also render cleanly: no control characters, balanced $ / $$, and LaTeX whose braces,
\\left/\\right and \\begin/\\end pair up.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest
from prose_claims import CLAIMS

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted([*REPO.glob("notebooks/*.ipynb"), *REPO.glob("solutions/*.ipynb"), *REPO.glob("exercises/*.ipynb")])
NEAR_CODE_CELLS = 3  # a markdown cell may quote the outputs of the 3 code cells before and after it
WHOLE_NOTEBOOK_TAG = "<!-- numbers: whole notebook -->"
COURSE_CONSTANTS = {28.0: "image side", 42.0: "VAEs in the model bank", 784.0: "pixels per 28×28 image",
                    60_000.0: "training images", 10_000.0: "test images", 20_000.0: "training images notebook 03 uses",
                    2000.0: "test images", 400.0: "a layer width", 256.0: "a layer width",
                    128.0: "a layer width and batch size"}
# Values quoted from outside the notebook: {notebook path: {number as written: reason}}.
RESULTS = "benchmarks/RESULTS.md: "
ALLOWED: dict[str, dict[str, str]] = {
    "notebooks/02_vae_objective.ipynb": {n: RESULTS + "the notebook's run time, measured by bench_notebooks.py"
                                         for n in ("2.6", "4.4")},
    "notebooks/04_best_model.ipynb": {
        "86.76": RESULTS + "Burda et al. 2016, Table 1 (VAE, one stochastic layer, k = 5000)",
        "3 280": "Burda et al. 2016: epochs of the published model",
        "200": "Burda et al. 2016: the published layer width",
        "50": "Burda et al. 2016: the published latent size", "90": RESULTS + "the course's quality target (nats)",
        "20": "vaecourse/config.py: BEST_TRAINING.epochs and BEST_MODEL.latent_dim",
        **{n: RESULTS + "bench_quality.py on 2000 random test images"
           for n in ("88.86", "0.51", "93.30", "89.05", "1.6")}},
}

NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:[ \u202f\u2009]\d{3})+(?![\d.])|\d+(?:\.\d+)?)(?:\s?(%))?")
LITERAL = re.compile(r"(?<![\w.])\d+(?:_\d{3})*(?:\.\d+)?(?:[eE]-?\d+)?")
NOT_PROSE = [
    re.compile(r"```.*?```", re.S),  # fenced code
    re.compile(r"<!--.*?-->", re.S),  # HTML comments
    re.compile(r"\$\$.*?\$\$", re.S),  # display math
    re.compile(r"(?<!\\)\$.+?(?<!\\)\$", re.S),  # inline math
    re.compile(r"`[^`]*`"),  # code spans
    re.compile(r"\]\([^)]*\)"),  # link targets
    re.compile(r"https?://\S+"),
    re.compile(r"^#+ .*$", re.M),  # headings (section numbers)
    re.compile(r"\d+(?:\.\d+)?(?:\s?(?:[–-]|to)\s?\d+(?:\.\d+)?)?\s?(?:s|seconds?|min|minutes?|hours?)\b"),  # 99 s
    re.compile(r"(?:[Ss]ections?|§|[Nn]otebooks?|[Ee]xercises?|learner question|appendix)\s+"
               r"\d+(?:\.\d+)*(?:(?:,| and| or| to|–)\s*\d+(?:\.\d+)*)*"),
]


def cell_text(cell: dict) -> str:
    """The cell's source as one string."""
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def output_text(cell: dict) -> str:
    """All text a code cell's saved outputs show (streams, text/plain, text/markdown, errors)."""
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append(cell_text({"source": out["text"]}))
        for mime in ("text/plain", "text/markdown"):
            if mime in out.get("data", {}):
                parts.append(cell_text({"source": out["data"][mime]}))
        parts.extend(out.get("traceback", []))
    return "\n".join(parts)


def numbers_in(text: str) -> list[tuple[str, float, int]]:
    """Measured-looking numbers in prose: (as written, value, decimals) for each."""
    for pattern in NOT_PROSE:
        text = pattern.sub(" ", text)
    found = []
    for match in NUMBER.finditer(text):
        written, percent = match.group(1), match.group(2)
        digits = re.sub(r"[ \u202f\u2009]", "", written)
        value = float(digits)
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        is_year = decimals == 0 and 1900 <= value <= 2099 and len(digits) == 4
        is_label = decimals == 0 and len(digits) >= 2 and digits.startswith("0")  # "03": a notebook's number
        if ("." in digits or percent or len(digits) >= 2) and not (is_year or is_label):
            found.append((written + (percent or ""), value, decimals))
    return found


def allowed_here(written: str, allowed: dict[str, str]) -> bool:
    """Whether an allow-listed number is allowed; one whose reason names a repository file must be in it."""
    if written not in allowed:
        return False
    source = REPO / allowed[written].split(":")[0]
    return not source.is_file() or written in source.read_text(encoding="utf-8")


def shown(value: float, decimals: int, outputs: str, percent: bool = False) -> bool:
    """Whether an output number, printed to at least `decimals` places, rounds to `value` (a % also as a fraction)."""
    for match in re.finditer(r"(\d[\d,]*(?:\.\d+)?)(\s?%)?", outputs):
        token = match.group(1).replace(",", "")
        try:
            number = float(token)
        except ValueError:
            continue
        places = len(token.split(".")[1]) if "." in token else 0
        if percent and not match.group(2):  # 0.132 printed, 13 % written
            number, places = 100 * number, places - 2
        if places >= decimals and abs(number - value) <= 0.5 * 10.0**-decimals * (1 + 1e-9):
            return True
    return False


def sections(cells: list[dict]) -> list[int]:
    """For each cell, the index of the section it ends in (a new one at every `#` or `##` heading)."""
    section, result = 0, []
    for cell in cells:
        if cell["cell_type"] == "markdown":
            section += len(re.findall(r"^#{1,2} ", cell_text(cell), re.M))
        result.append(section)
    return result


def unshown_numbers(nb: dict, allowed: dict[str, str] | None = None) -> list[str]:
    """'cell N: number' for every measured number in markdown that no nearby output shows."""
    cells, allowed = nb["cells"], allowed or {}
    code = "\n".join(re.sub(r"#.*", "", cell_text(c)) for c in cells if c["cell_type"] == "code")  # comments are prose
    settings = {float(t.replace("_", "")) for t in LITERAL.findall(code)}
    outputs = {i: output_text(c) for i, c in enumerate(cells) if c["cell_type"] == "code"}
    headings = {m for c in cells if c["cell_type"] == "markdown"
                for m in re.findall(r"^#+\s+(?:\S+\s+)?(\d+(?:\.\d+)+)", cell_text(c), re.M)}  # "## 4.2 Foo"
    section_of, problems = sections(cells), []
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        text = cell_text(cell)
        if WHOLE_NOTEBOOK_TAG in text:
            near = list(outputs)
        else:
            start = section_of[i] - len(re.findall(r"^#{1,2} ", text, re.M))  # a cell may open new sections
            near = [j for j in outputs if start <= section_of[j] <= section_of[i]]
            near += [j for j in outputs if j < i][-NEAR_CODE_CELLS:] + [j for j in outputs if j > i][:NEAR_CODE_CELLS]
        seen = "\n".join(outputs[j] for j in sorted(set(near)))
        for written, value, decimals in numbers_in(text):
            setting = value in settings or value in COURSE_CONSTANTS or written in headings
            constant = setting and not written.endswith("%")
            exempt = constant or allowed_here(written, allowed)
            if exempt or shown(value, decimals, seen, percent=written.endswith("%")):
                continue
            problems.append(f"cell {i}: {written}")
    return problems


def render_problems(nb: dict) -> list[str]:
    """Control characters, unbalanced $ / $$, and LaTeX whose braces or environments do not pair."""
    problems = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        text = cell_text(cell)
        bad = sorted({repr(ch) for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\n\t"})
        if bad:
            problems.append(f"cell {i}: control characters {', '.join(bad)}")
        text = re.sub(r"```.*?```|`[^`]*`", " ", text, flags=re.S)
        display = re.findall(r"\$\$(.*?)\$\$", text, re.S)
        rest = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
        if "$$" in rest:
            problems.append(f"cell {i}: an unpaired $$")
        rest = rest.replace(r"\$", " ")
        if rest.count("$") % 2:
            problems.append(f"cell {i}: an odd number of $")
        for formula in display + re.findall(r"\$(.+?)\$", rest, re.S):
            problems += [f"cell {i}: {p} in ${formula.strip()[:60]}$" for p in latex_problems(formula)]
    return problems


def latex_problems(formula: str) -> list[str]:
    """Structural LaTeX errors in one formula: braces, \\left/\\right, \\begin/\\end."""
    plain = re.sub(r"\\[{}]", "", formula)
    depth, problems = 0, []
    for ch in plain:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            problems.append("a } before its {")
            depth = 0
    if depth:
        problems.append("an unclosed {")
    if len(re.findall(r"\\left\b", formula)) != len(re.findall(r"\\right\b", formula)):
        problems.append("unpaired \\left/\\right")
    if re.findall(r"\\begin\{(\w+\*?)\}", formula) != re.findall(r"\\end\{(\w+\*?)\}", formula):
        problems.append("unpaired \\begin/\\end")
    if not formula.strip():
        problems.append("an empty formula")
    return problems


def load(path: Path) -> dict:
    """A notebook as JSON."""
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_numbers_in_markdown_are_in_nearby_outputs(path: Path) -> None:
    """Every measured number the prose quotes is printed nearby, to the precision written."""
    name = f"{path.parent.name}/{path.name}"
    problems = unshown_numbers(load(path), ALLOWED.get(name))
    assert not problems, f"{name}: {len(problems)} numbers in markdown that no nearby output shows: {problems}"


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_comparative_claims_hold_in_the_saved_outputs(name: str) -> None:
    """Each listed sentence is still in the markdown, and the saved outputs still bear it out."""
    nb = load(REPO / name)
    markdown = "\n".join(cell_text(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    outputs = "\n".join(output_text(c) for c in nb["cells"] if c["cell_type"] == "code")
    stale = [sentence for sentence, _ in CLAIMS[name] if sentence not in markdown]
    assert not stale, f"{name}: sentences no longer in the markdown (update CLAIMS): {stale}"
    false = [sentence for sentence, holds in CLAIMS[name] if not holds(outputs)]
    assert not false, f"{name}: claims the saved outputs no longer support: {false}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_markdown_renders_cleanly(path: Path) -> None:
    """No control characters, paired dollars, structurally valid LaTeX."""
    problems = render_problems(load(path))
    assert not problems, f"{path.name}: {problems}"


def test_the_checks_catch_what_they_are_for() -> None:
    """A misquoted number, a rounded one, a setting, a section number, a BEL and a broken formula."""
    md = lambda s: {"cell_type": "markdown", "source": s}
    code = lambda s, out: {"cell_type": "code", "source": s, "outputs": [{"output_type": "stream", "text": out}]}
    nb = {"cells": [md("## Scores"), code("sigma = 0.2", "loss 87.4397, share 13.1%\n"),
                    md("Loss 87.44 (87.4), share 13.1%, σ = 0.2, see section 9.1, in 2016, in 99 s; but 87.91 and 14%."),
                    md("## Later"), *[code("pass", "12.5\n")] * 4, md("Too far: 87.44; $x = 0.123$ is maths.")]}
    assert unshown_numbers(nb) == ["cell 2: 87.91", "cell 2: 14%", "cell 8: 87.44"]
    assert unshown_numbers(nb, {"87.91": "a paper's value", "14%": "", "87.44": ""}) == []
    nb["cells"][8]["source"] += WHOLE_NOTEBOOK_TAG
    assert unshown_numbers(nb) == ["cell 2: 87.91", "cell 2: 14%"]
    broken = {"cells": [md("$\\mu_j \x07pprox 0$"), md("$\\frac{1}{2$ and $x"), md("$$\\left( x$$")]}
    assert render_problems(broken) == [
        "cell 0: control characters '\\x07'", "cell 1: an odd number of $", "cell 1: an unclosed { in $\\frac{1}{2$",
        "cell 2: unpaired \\left/\\right in $\\left( x$"]


def test_a_reversed_comparison_fails_its_claim() -> None:
    """The claim checks read the printed table: a run where L1 is not worst, or BCE loses, breaks them."""
    claims = dict(CLAIMS["notebooks/01_reconstruction_loss.ipynb"])
    outputs = ("trained with MSE  0.0168*  96.2473  0.0480*\ntrained with BCE  0.0170  87.4397*  0.0490\n"
               "trained with L1  0.0100  1316.7542  0.0727")
    assert not claims["the BCE model is best on its own loss *and* on MSE"](outputs)
    assert not claims["it wins L1 by a hair too"](outputs)
    assert not claims["The L1 model is worst everywhere"](outputs)


def test_section_numbers_are_not_measurements() -> None:
    """'In 4.2' under a heading '## 4.2 ...' is a section number; 4.5 without such a heading is a measurement."""
    nb = {"cells": [{"cell_type": "markdown", "source": "## 4.2 Evaluating\nIn 4.2 the loss is 4.5."}]}
    assert unshown_numbers(nb) == ["cell 0: 4.5"]
