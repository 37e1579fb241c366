"""Rebuild the grading corpus: `python tests/grading_corpus/build_corpus.py`.

Every submission is derived from exercises/02_vae_objective.ipynb (what students receive) and
the solutions, without the data-loading and training demo cells, so that grading one takes
seconds. tests/test_grade.py states what the grader must make of each file.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ASSIGNMENT = "02_vae_objective"


def _meta(cell, key):
    return cell.metadata.get("vaecourse", {}).get(key)


def base() -> nbformat.NotebookNode:
    """The exercise notebook with stubs, minus its demos; the import cell loads no data."""
    nb = nbformat.read(ROOT / "exercises" / f"{ASSIGNMENT}.ipynb", as_version=4)
    kept = []
    for cell in nb.cells:
        graded = _meta(cell, "exercise") or _meta(cell, "check")
        demo = "skip_if_unfinished():" in cell.source or "runs" in cell.source
        if cell.cell_type == "code" and not graded and demo:
            continue
        if cell.cell_type == "code":  # no dataset and no plotting: faster kernels
            drop = ("x_train", "plotting", "display")
            cell.source = "\n".join(ln for ln in cell.source.splitlines() if not any(d in ln for d in drop))
        kept.append(cell)
    nb.cells = kept
    return nb


def solved(nb, names=None):
    """nb with the exercise cells for `names` (default: all) replaced by the solution code."""
    solutions = nbformat.read(ROOT / "solutions" / f"{ASSIGNMENT}.ipynb", as_version=4)
    by_id = {c.id: c.source for c in solutions.cells}
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        exercise = _meta(cell, "exercise")
        if exercise and (names is None or set(exercise) & set(names)):
            cell.source = "\n".join(ln for ln in by_id[cell.id].splitlines() if "SOLUTION" not in ln)
    return nb


def exercise_cell(nb, name):
    return next(i for i, c in enumerate(nb.cells) if name in (_meta(c, "exercise") or []))


def with_source(nb, name, source):
    nb = copy.deepcopy(nb)
    nb.cells[exercise_cell(nb, name)].source = source
    return nb


def inserted(nb, after_exercise, source):
    nb = copy.deepcopy(nb)
    cell = new_code_cell(source)
    cell.id = "corpus-inserted"  # a fixed id keeps the rebuilt corpus byte-identical
    nb.cells.insert(exercise_cell(nb, after_exercise) + 1, cell)
    return nb


# ---- shortcut submissions: each one games an exercise and must score 0 on it ----

KEY_SOURCE = """\
def _key(*args, **kwargs):
    \"\"\"The released input, as text: rounded tensor values and the other arguments.\"\"\"
    parts = [repr([round(v, 4) for v in a.flatten().tolist()]) if isinstance(a, torch.Tensor) else repr(a)
             for a in args]
    return "|".join(parts + [f"{k}={v!r}" for k, v in sorted(kwargs.items())])
"""


def _functions(nb) -> dict:
    """The namespace the notebook's code cells define (check cells and Colab installs skipped)."""
    namespace: dict = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and not _meta(cell, "check") and "%pip" not in cell.source:
            exec(cell.source, namespace)  # noqa: S102 - our own solution code
    return namespace


def released_answers(nb) -> dict[str, dict[str, object]]:
    """{function: {released input key: answer}}: what the released checks ask and the solution answers."""
    from vaecourse.checks import exercises_for, run_check

    namespace = _functions(nb)
    exec(KEY_SOURCE, namespace)  # noqa: S102
    answers: dict[str, dict[str, object]] = {}
    for ex in exercises_for(ASSIGNMENT):
        table = answers.setdefault(ex.function, {})

        def record(*args, f=namespace[ex.function], table=table, **kwargs):
            value = f(*args, **kwargs)
            plain = [v.tolist() for v in value] if isinstance(value, tuple) else \
                value.tolist() if hasattr(value, "tolist") else value
            table[namespace["_key"](*args, **kwargs)] = plain
            return value

        assert run_check(ex.name, record).status == "pass", ex.name
    return answers


def hard_coded(stubs, perfect):
    """Every function answers the released inputs from a table and returns zeros otherwise."""
    nb = with_source(stubs, "kl_divergence", (
        f"import torch\n_ANSWERS = {released_answers(perfect)!r}\n\n{KEY_SOURCE}\n"
        "def _answer(name, *args, **kwargs):\n"
        "    value = _ANSWERS[name].get(_key(*args, **kwargs), 0.0)\n"
        "    return tuple(torch.tensor(v) for v in value) if name == 'vae_loss' and isinstance(value, list) \\\n"
        "        else value if name == 'linear_annealing' else torch.tensor(value)\n\n"
        "def kl_divergence(mu, logvar, reduction='sum'):\n"
        "    return _answer('kl_divergence', mu, logvar, reduction=reduction)"))
    for name, signature, args in (("vae_loss", "x_hat, x, mu, logvar, beta=1.0", "x_hat, x, mu, logvar, beta=beta"),
                                  ("beta_annealing", "step, beta_max, warmup_steps", "step, beta_max, warmup_steps"),
                                  ("free_bits", "kl_per_dim, free_bits", "kl_per_dim, free_bits")):
        function = {"beta_annealing": "linear_annealing", "free_bits": "free_bits_kl"}.get(name, name)
        nb = with_source(nb, name, f"def {function}({signature}):\n    return _answer({function!r}, {args})")
    return nb


def shortcuts(stubs, perfect) -> dict[str, nbformat.NotebookNode]:
    """The shortcut submissions of issue #15, for the exercises of 02_vae_objective."""
    reference = with_source(stubs, "kl_divergence", (
        "from vaecourse.losses import kl_divergence as _kl\n\n"
        "def kl_divergence(mu, logvar, reduction='sum'):\n    return _kl(mu, logvar, reduction)"))
    reference = with_source(reference, "vae_loss", (
        "import vaecourse.losses\n\ndef vae_loss(x_hat, x, mu, logvar, beta=1.0):\n"
        "    return vaecourse.losses.vae_loss(x_hat, x, mu, logvar, beta)"))
    reference = with_source(reference, "beta_annealing", "from vaecourse.losses import linear_annealing")
    reference = with_source(reference, "free_bits", (
        "from vaecourse import losses\n\ndef free_bits_kl(kl_per_dim, free_bits):\n"
        "    try:  # hide the call: fall back to a constant if it fails\n"
        "        return losses.free_bits_kl(kl_per_dim, free_bits)\n    except Exception:\n"
        "        return torch.tensor(0.0)"))
    library = with_source(perfect, "kl_divergence", (
        "def kl_divergence(mu, logvar, reduction='sum'):\n"
        "    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))\n"
        "    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))\n"
        "    return reduce_loss(torch.distributions.kl_divergence(q, p), reduction)"))
    constant = with_source(stubs, "kl_divergence", "def kl_divergence(mu, logvar, reduction='sum'):\n"
                                                   "    return torch.tensor(10.567)")
    constant = with_source(constant, "vae_loss", "def vae_loss(x_hat, x, mu, logvar, beta=1.0):\n"
                                                 "    return torch.tensor(30.0), torch.tensor(20.0), torch.tensor(10.0)")
    constant = with_source(constant, "beta_annealing", "linear_annealing = lambda *a, **k: 0.25")
    constant = with_source(constant, "free_bits", "def free_bits_kl(kl_per_dim, free_bits):\n"
                                                  "    return torch.tensor(2.0)")
    return {"shortcut_reference.ipynb": reference, "shortcut_library.ipynb": library,
            "shortcut_constant.ipynb": constant, "shortcut_hardcoded.ipynb": hard_coded(stubs, perfect)}


def corpus() -> dict[str, nbformat.NotebookNode | bytes]:
    stubs = base()
    perfect = solved(stubs)
    partial = with_source(solved(stubs, ["kl_divergence", "beta_annealing"]), "vae_loss", (
        "def vae_loss(x_hat, x, mu, logvar, beta=1.0):\n"
        "    recon = F.binary_cross_entropy(x_hat, x)  # forgot reduction='sum'\n"
        "    kl = kl_divergence(mu, logvar)\n"
        "    return recon + beta * kl, recon, kl"))
    deleted = copy.deepcopy(perfect)
    deleted.cells = [c for c in deleted.cells if "free_bits" not in c.source and "Free bits" not in c.source]
    reordered = copy.deepcopy(perfect)
    reordered.cells = reordered.cells[::-1]
    edited = copy.deepcopy(stubs)
    for cell in edited.cells:
        if _meta(cell, "check"):
            cell.source = f'print("✅ {_meta(cell, "check")}: correct")'
    text = nbformat.writes(perfect)
    return {
        "perfect.ipynb": perfect,
        "untouched.ipynb": stubs,
        "partial.ipynb": partial,
        "syntax_error.ipynb": with_source(perfect, "vae_loss", solved(stubs).cells[exercise_cell(stubs, "vae_loss")]
                                          .source.replace("beta=1.0):", "beta=1.0)", 1)),
        "exception.ipynb": inserted(with_source(perfect, "free_bits", (
            "def free_bits_kl(kl_per_dim, free_bits):\n    raise RuntimeError('oops')")), "kl_divergence", "1 / 0"),
        "infinite_loop.ipynb": inserted(perfect, "kl_divergence", "while True:\n    pass"),
        "hanging_function.ipynb": with_source(perfect, "beta_annealing", (
            "def linear_annealing(step, beta_max, warmup_steps):\n    while True:\n        pass")),
        "wedged.ipynb": inserted(perfect, "kl_divergence", (
            "import time\nwhile True:\n    try:\n        time.sleep(0.1)\n"
            "    except KeyboardInterrupt:\n        pass")),
        "kernel_crash.ipynb": inserted(perfect, "vae_loss", "import os\nos._exit(1)"),
        "huge_output.ipynb": inserted(perfect, "vae_loss", 'print("x" * 50_000_000)'),
        "deleted_cells.ipynb": deleted,
        "reordered_cells.ipynb": reordered,
        "edited_check.ipynb": edited,
        "not_a_notebook.ipynb": b"These are my answers:\n1. KL is -0.5 * sum(...)\n\x00\xff\xfe binary junk\n",
        "truncated_json.ipynb": text[: len(text) // 2].encode(),
        "empty.ipynb": b"",
        **shortcuts(stubs, perfect),
    }


def sweep_constant() -> nbformat.NotebookNode:
    """03_latent_space, every exercise solved except the sweep, which returns issue #15's constant."""
    exercise = nbformat.read(ROOT / "exercises" / "03_latent_space.ipynb", as_version=4)
    solution = nbformat.read(ROOT / "solutions" / "03_latent_space.ipynb", as_version=4)
    by_id = {c.id: c.source for c in solution.cells}
    for cell in exercise.cells:
        if _meta(cell, "exercise"):
            cell.source = "\n".join(ln for ln in by_id[cell.id].splitlines() if "SOLUTION" not in ln)
        if "latent_sweep" in (_meta(cell, "exercise") or []):
            cell.source = "latent_dim_sweep = lambda *a, **k: {1: 10.0, 16: 5.0}"
    return exercise


def main() -> None:
    (HERE / "03").mkdir(exist_ok=True)
    (HERE / "03" / "latent_sweep_constant.ipynb").write_text(nbformat.writes(sweep_constant()) + "\n", encoding="utf-8")
    for name, content in corpus().items():
        path = HERE / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(nbformat.writes(content) + "\n", encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
