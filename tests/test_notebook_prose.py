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
  durations ("99 s", "45 minutes": timings depend on the machine), years (1900–2099), the course's sizes in COURSE_CONSTANTS (784 pixels, 60 000 images, layer
  widths), and any number (not a percentage) that also appears as a literal in a code cell's
  SOURCE, comments excluded (a setting or hyper-parameter: `sigma=0.2`, `N_SMALL = 300`);
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

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted([*REPO.glob("notebooks/*.ipynb"), *REPO.glob("solutions/*.ipynb"), *REPO.glob("exercises/*.ipynb")])
NEAR_CODE_CELLS = 3  # a markdown cell may quote the outputs of the 3 code cells before and after it
WHOLE_NOTEBOOK_TAG = "<!-- numbers: whole notebook -->"
COURSE_CONSTANTS = {28.0: "image side", 42.0: "VAEs in the model bank", 784.0: "pixels per 28×28 image", 60_000.0: "training images", 10_000.0: "test images",
                    20_000.0: "training images notebook 03 uses", 2000.0: "test images", 400.0: "a layer width",
                    256.0: "a layer width", 128.0: "a layer width and batch size"}
# Values quoted from outside the notebook: {notebook path: {number as written: reason}}.
RESULTS = "benchmarks/RESULTS.md: "
ALLOWED: dict[str, dict[str, str]] = {
    "notebooks/02_vae_objective.ipynb": {n: RESULTS + "the notebook's run time, measured by bench_notebooks.py"
                                         for n in ("2.6", "4.4")},
    "notebooks/04_best_model.ipynb": {
        "86.76": RESULTS + "Burda et al. 2016, Table 1 (VAE, one stochastic layer, k = 5000)",
        "3 280": "Burda et al. 2016: epochs of the published model", "200": "Burda et al. 2016: the published layer width",
        "50": "Burda et al. 2016: the published latent size", "90": RESULTS + "the course's quality target (nats)",
        "20": "vaecourse/config.py: BEST_TRAINING.epochs and BEST_MODEL.latent_dim",
        **{n: RESULTS + "bench_quality.py on 2000 random test images" for n in ("88.86", "0.51", "93.30", "89.05", "1.6")}},
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
    re.compile(r"\d+(?:\.\d+)?(?:\s?(?:[–-]|to)\s?\d+(?:\.\d+)?)?\s?(?:s|seconds?|min|minutes?|hours?)\b"),  # durations
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
        if ("." in digits or percent or len(digits) >= 2) and not is_year:
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
                for m in re.findall(r"^#+\s+(?:\S+\s+)?(\d+(?:\.\d+)+)", cell_text(c), re.M)}  # "## 4.2 ...", "## 1 · 4.2"
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
            constant = not written.endswith("%") and (value in settings or value in COURSE_CONSTANTS or written in headings)
            exempt = constant or allowed_here(written, allowed)
            if exempt or shown(value, decimals, seen, percent=written.endswith("%")):
                continue
            problems.append(f"cell {i}: {written}")
    return problems


def row(outputs: str, label: str) -> list[float]:
    """The numbers on the first output line that starts with `label` (a row of a printed table)."""
    line = next(l for l in outputs.splitlines() if l.strip().startswith(label))
    return [float(t) for t in re.findall(r"-?\d+(?:\.\d+)?", line[line.index(label) + len(label):])]


def starred(outputs: str, label: str) -> list[bool]:
    """For each number on a table row, whether the table starred it (best in its column)."""
    line = next(l for l in outputs.splitlines() if l.strip().startswith(label))
    return [bool(m.group(1)) for m in re.finditer(r"\d+\.\d+(\*)?", line[line.index(label) + len(label):])]


def class_order(outputs: str) -> list[str]:
    """Class names in the order notebook 01's per-class table prints them (lowest error first)."""
    block = outputs[outputs.index("mean MSE per pixel"):].splitlines()[1:11]
    return [line.split()[0] for line in block]


def blur(outputs: str, loss: str) -> list[float]:
    """Notebook 01's blur table: [mid-grey %, edge strength] of the model trained with `loss` ("" = the test images)."""
    table = outputs[outputs.index("mid-grey pixels   edge strength"):]
    return row(table, f"trained with {loss}" if loss else "test images")


def phase(outputs: str, name: str) -> list[float]:
    """Notebook 02's training phases: [recon, KL, KL/recon] over the named steps."""
    return row(outputs[outputs.index("recon      KL   KL/recon"):], name)[-3:]


def iw_bound(outputs: str, k: int) -> float:
    """Notebook 02's importance-weighted bound with k samples."""
    return float(re.search(rf"k = +{k} importance samples: −log p\(x\) ≤ +([\d.]+)", outputs).group(1))


def fb_elbo(outputs: str) -> float:
    """Notebook 02's −ELBO of the β = 784 run rescued by free bits."""
    return float(re.search(r"free bits λ = 0\.5: .*−ELBO ([\d.]+)", outputs).group(1))


VARIANTS = ("plain", "linear annealing", "cyclical annealing", "free bits λ = 0.5")


def run(outputs: str, beta: int, variant: str) -> list[float]:
    """Notebook 02's annealing table: [active, KL>0.1, KL, recon, −ELBO] of one run."""
    return row(outputs[outputs.index("active  KL>0.1"):], f"β = {beta}  {variant} ")[-5:]


def trav(outputs: str) -> list[float]:
    """Notebook 03's traversal table: Σ|Δpixel| along each row, rows in order of KL."""
    block = outputs[outputs.index("Σ|Δpixel| along the row"):].splitlines()[1:17]
    return [float(line.split()[-1]) for line in block]


def nearest_8_and_3(outputs: str) -> tuple[float, float]:
    """Notebook 03's arithmetic: distances of z_new to the 8s' and 3s' mean codes, printed nearest first."""
    found = re.search(r"nearest class means: 8 \(([\d.]+)\), 3 \(([\d.]+)\)", outputs)
    return (float(found.group(1)), float(found.group(2))) if found else (0.0, float("inf"))


def ae(outputs: str) -> list[float]:
    """Notebook 03's autoencoder sweep: test squared error per image for k = 2 … 64."""
    return [float(v) for v in re.findall(r"latent dim +\d+: test squared error +([\d.]+)", outputs)]


BANK_BETAS = ("0.5", "1", "2", "4", "8")


def prop(outputs: str, label: str) -> list[float]:
    """Notebook 03's properties table: [kNN acc, within/between, jump lerp, jump slerp, |corr|, dims for 90 % KL]."""
    full = {"pixels": "pixels (784-D)", "autoencoder": "autoencoder, 16-D"}.get(label, f"{label}, 16-D")
    return row(outputs[outputs.index("within/"):], full)


def overfit(outputs: str) -> dict[str, float]:
    """Notebook 01's overfitting line: the lowest test BCE and the final train and test BCE."""
    found = re.search(r"lowest after epoch \d+: ([\d.]+) .*?: train ([\d.]+), test ([\d.]+)", outputs)
    return dict(zip(("lowest", "train", "test"), map(float, found.groups())))


def val(outputs: str) -> list[float]:
    """Notebook 04's validation −ELBO after epochs 1, 5, 10, 15 and 20."""
    line = outputs[outputs.index("validation −ELBO (nats per image) after epoch"):].splitlines()[0]
    return [float(v) for v in re.findall(r"\d+: ([\d.]+)", line)]


def iw4(outputs: str) -> list[float]:
    """Notebook 04's importance-weighted estimates for k = 1, 10, 100, 1000."""
    return [row(outputs, f"k = {k:>4}:")[0] for k in (1, 10, 100, 1000)]


RECON_TABLE = ("trained with MSE", "trained with BCE", "trained with L1")
CLAIMS: dict[str, list[tuple[str, object]]] = {  # notebook: [(sentence in its markdown, check on all its outputs)]
    "notebooks/01_reconstruction_loss.ipynb": [
        ("the BCE model is best on its own loss *and* on MSE", lambda o: starred(o, "trained with BCE")[:2] == [True, True]),
        ("it wins L1 by a hair too", lambda o: starred(o, "trained with BCE")[2]),
        ("The L1 model is worst everywhere", lambda o: all(
            row(o, "trained with L1")[c] == max(row(o, r)[c] for r in RECON_TABLE) for c in range(3))),
        ("more than ten times the others'", lambda o: row(o, "trained with L1")[1] > 10 * max(row(o, r)[1] for r in RECON_TABLE[:2])),
        ("The code closes most of the gap", lambda o: int(re.search(r"the code closes (\d+)% of the gap", o).group(1)) > 50),
        ("the training error keeps falling to the end, while the test error bottoms out",
         lambda o: overfit(o)["train"] < overfit(o)["lowest"] < overfit(o)["test"] - 5),
        ("the correlation printed above is positive", lambda o: float(re.search(r"and its ink: (-?[\d.]+)", o).group(1)) > 0.1),
        ("the model's centre error fell", lambda o: row(o, "trained centre-weighted")[0] < row(o, "trained plain")[0]),
        ("its border error rose", lambda o: row(o, "trained centre-weighted")[1] > row(o, "trained plain")[1]),
        ("the MSE and BCE models are about equally blurry", lambda o: abs(blur(o, "MSE")[0] - blur(o, "BCE")[0]) < 1
         and min(blur(o, "MSE")[0], blur(o, "BCE")[0]) > blur(o, "")[0] and max(blur(o, "MSE")[1], blur(o, "BCE")[1]) < blur(o, "")[1]),
        ("The L1 model has fewer mid-grey pixels than the real digits", lambda o: blur(o, "L1")[0] < blur(o, "")[0]),
        ("but also the weakest edges", lambda o: blur(o, "L1")[1] < min(blur(o, "MSE")[1], blur(o, "BCE")[1])),
        ("1s are by far the easiest, then 7s and 9s; 8s and 2s are the hardest, then 5s",
         lambda o: class_order(o)[0] == "1" and set(class_order(o)[1:3]) == {"7", "9"}
         and set(class_order(o)[-2:]) == {"8", "2"} and class_order(o)[-3] == "5"),
        ("are only fourth easiest", lambda o: class_order(o)[3] == "0"),
        ("0s have the most ink", lambda o: max(class_order(o), key=lambda c: row(o.split("mean ink")[1], f"{c} ")[1]) == "0"),
    ],
    "notebooks/02_vae_objective.ipynb": [
        ("the KL is a tiny fraction of the reconstruction", lambda o: phase(o, "steps 0–4")[2] < 0.01),
        ("the KL jumps, as the encoder first spreads its means apart",
         lambda o: phase(o, "steps 5–20")[1] > phase(o, "steps 21–100")[1] < phase(o, "rest of epoch 1")[1]),
        ("the KL is more than a tenth of the reconstruction", lambda o: phase(o, "rest of epoch 1")[2] > 0.1),
        ("the reconstruction falls by several nats from epoch 2 to epoch 3, but the KL still *grows*",
         lambda o: phase(o, "epoch 2")[0] - phase(o, "epoch 3")[0] > 2 and phase(o, "epoch 3")[1] > phase(o, "epoch 2")[1]),
        ("this healthy β = 1 run ends inside the band", lambda o: 0.1 <= phase(o, "epoch 3")[2] <= 1),
        ("100 samples make it a few nats tighter", lambda o: 1 < iw_bound(o, 1) - iw_bound(o, 100) < 10),
        ("below even the $k = 100$ bound", lambda o: float(re.search(r"with z = μ: +([\d.]+)", o).group(1)) < iw_bound(o, 100)),
        ("well over twice the healthy model's", lambda o: min(row(o, "mean recon + KL")[-3], row(o, "recon/N + KL/D")[-3])
         > 2 * row(o, "β = 1, sums (correct)")[-3]),
        ("free bits keep every dimension active", lambda o: re.search(r"free bits λ = 0\.5: 20 of 20 active", o)),
        ("improves a lot on the collapsed runs'", lambda o: fb_elbo(o) < row(o, "mean recon + KL")[-2] - 10),
        ("it stays far behind the healthy β = 1 model's", lambda o: fb_elbo(o) > row(o, "β = 1, sums (correct)")[-2] + 20),
        ("The plain run leaves several of its 20 dimensions below 0.1 nats; both kinds of annealing keep more",
         lambda o: run(o, 4, "plain")[1] < min(run(o, 4, v)[1] for v in VARIANTS[1:3]) and run(o, 4, VARIANTS[3])[1] == 20),
        ("hardly separate the runs (all near 20)", lambda o: all(run(o, b, v)[0] >= 18 for b in (1, 4) for v in VARIANTS)),
        ("concentrates its KL in a dozen or so dimensions", lambda o: 9 <= run(o, 4, "plain")[1] <= 15),
        ("raise the KL by at most about 1 nat and move the reconstruction and the −ELBO by less than 1 nat",
         lambda o: all(0 <= run(o, 1, v)[2] - run(o, 1, "plain")[2] < 1.5 and all(abs(run(o, 1, v)[c] - run(o, 1, "plain")[c]) < 1
                       for c in (3, 4)) for v in VARIANTS[1:])),
        ("The −ELBO moves by under 2 nats either way", lambda o: all(abs(run(o, 4, v)[4] - run(o, 4, "plain")[4]) < 2 for v in VARIANTS)),
        ("the annealed runs reconstruct up to 2 nats better",
         lambda o: all(0 < run(o, 4, "plain")[3] - run(o, 4, v)[3] <= 2 for v in VARIANTS[1:3])),
        ("free bits pay about 1 nat of ELBO", lambda o: 0.5 <= run(o, 4, VARIANTS[3])[4] - run(o, 4, "plain")[4] < 1.5),
        ("the lowest test −ELBO in the bank for every latent size but $k = 2$",
         lambda o: re.search(r"per k: \{2: (?!1\.0)[\d.]+, 4: 1\.0, 8: 1\.0, 16: 1\.0, 32: 1\.0, 64: 1\.0\}", o)),
    ],
    "notebooks/03_latent_space.ipynb": [
        ("about as well as the raw pixels (within a point of accuracy)",
         lambda o: all(abs(prop(o, f"VAE β = {b}")[0] - prop(o, "pixels")[0]) <= 0.01 for b in ("0.5", "1", "2"))),
        ("the autoencoder's codes do a little worse", lambda o: min(prop(o, f"VAE β = {b}")[0] for b in ("0.5", "1", "2")) - 0.05
         < prop(o, "autoencoder")[0] < min(prop(o, f"VAE β = {b}")[0] for b in ("0.5", "1", "2"))),
        ("β = 4 and 8 have the lowest accuracy", lambda o: max(prop(o, f"VAE β = {b}")[0] for b in ("4", "8"))
         < min([prop(o, "autoencoder")[0]] + [prop(o, f"VAE β = {b}")[0] for b in ("0.5", "1", "2")])),
        ("it *falls*, which looks better, as β grows from 1 to 8",
         lambda o: [prop(o, f"VAE β = {b}")[1] for b in ("1", "2", "4", "8")] == sorted((prop(o, f"VAE β = {b}")[1] for b in ("1", "2", "4", "8")), reverse=True)),
        ("lower for the autoencoder than for any VAE with β ≤ 2",
         lambda o: prop(o, "autoencoder")[1] < min(prop(o, f"VAE β = {b}")[1] for b in ("0.5", "1", "2"))),
        ("the largest step carries less than a tenth", lambda o: all(max(prop(o, f"VAE β = {b}")[2:4]) < 0.1 for b in BANK_BETAS)),
        ("lerp and slerp hardly differ", lambda o: all(abs(prop(o, f"VAE β = {b}")[2] - prop(o, f"VAE β = {b}")[3]) < 0.01 for b in BANK_BETAS)),
        ("the autoencoder's about twice as much",
         lambda o: 1.5 < prop(o, "autoencoder")[4] / (sum(prop(o, f"VAE β = {b}")[4] for b in BANK_BETAS) / 5) < 3),
        ("a larger β does not lower the correlation here", lambda o: prop(o, "VAE β = 8")[4] >= prop(o, "VAE β = 0.5")[4]),
        ("the last column shrinks as β grows", lambda o: [prop(o, f"VAE β = {b}")[5] for b in BANK_BETAS]
         == sorted((prop(o, f"VAE β = {b}")[5] for b in BANK_BETAS), reverse=True)),
        ("This curve also falls fastest for small $k$ (up to $k = 8$) and then flattens",
         lambda o: ae(o)[0] - ae(o)[2] > 2 * (ae(o)[2] - ae(o)[5]) > 0 and ae(o) == sorted(ae(o), reverse=True)),
        ("change the image the most along their rows", lambda o: min(trav(o)[:8]) > trav(o)[8] > max(trav(o)[9:])),
        ("nearest to the mean of the 8s, then of the 3s, at almost the same distance from both",
         lambda o: abs(nearest_8_and_3(o)[0] - nearest_8_and_3(o)[1]) < 0.2),
        ("hardly any with the random offset", lambda o: row(o, "+ random offset")[1] <= 3),
        ("about half as much as the weakest of them", lambda o: 0.35 < trav(o)[8] / min(trav(o)[:8]) < 0.65),
    ],
    "notebooks/04_best_model.ipynb": [
        ("The validation loss never turns upward", lambda o: val(o) == sorted(val(o), reverse=True)),
        ("the second ten epochs gain only a few nats", lambda o: 0 < val(o)[2] - val(o)[4] < 5),
        ("by less each time (compare the steps", lambda o: iw4(o)[0] - iw4(o)[1] > iw4(o)[1] - iw4(o)[2] > iw4(o)[2] - iw4(o)[3] > 0),
        ("It is lower than the validation −ELBO printed after training", lambda o: iw4(o)[0] < val(o)[-1]),
        ("lands within about a nat of the published 86.76", lambda o: abs(iw4(o)[3] - 86.76) < 1.5),
        ("The first 400 test images happen to be easier than average", lambda o: iw4(o)[3] < 88.86),
        ("about a nat and a quarter, is the standard error", lambda o: 1 < row(o, "k = 1000:")[1] < 1.5),
        ("only ever falls", lambda o: [row(o, f"k = {k:>4}:")[0] for k in (1, 10, 100, 1000)]
         == sorted((row(o, f"k = {k:>4}:")[0] for k in (1, 10, 100, 1000)), reverse=True)),
    ],
}


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
    outputs = "trained with MSE  0.0168*  96.2473  0.0480*\ntrained with BCE  0.0170  87.4397*  0.0490\ntrained with L1  0.0100  1316.7542  0.0727"
    assert not claims["the BCE model is best on its own loss *and* on MSE"](outputs)
    assert not claims["it wins L1 by a hair too"](outputs)
    assert not claims["The L1 model is worst everywhere"](outputs)


def test_section_numbers_are_not_measurements() -> None:
    """'In 4.2' under a heading '## 4.2 ...' is a section number; 4.5 without such a heading is a measurement."""
    nb = {"cells": [{"cell_type": "markdown", "source": "## 4.2 Evaluating\nIn 4.2 the loss is 4.5."}]}
    assert unshown_numbers(nb) == ["cell 0: 4.5"]
