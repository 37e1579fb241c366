"""Grade a class: `python -m vaecourse.grade SUBMISSION.ipynb... --out grades.csv`.

Each submission runs in a fresh kernel (in its own worker process) with per-cell and
per-notebook time limits; then the *released* checks from `vaecourse.checks` run on the
functions it defines; whatever its check cells print is ignored. One CSV row per submission:
`submission`, points per exercise, `total`, `max_total`, `status` ("ok" or what happened).
A file that is not a notebook, a crash, a hang or a flood of output each still get a row.

    python -m vaecourse.grade submissions/*.ipynb --out grades.csv --feedback-dir feedback \\
        --jobs 2 --extra-checks instructor_checks.py

Not a sandbox: submissions run with your permissions. Grade untrusted code in a container.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import nbformat

from vaecourse.checks import ASSIGNMENTS, Exercise, Result, exercises_for, fixtures, guard, load_extra_checks
from vaecourse.checks.runner import run_variants
from vaecourse.grading.execute import Limits
from vaecourse.grading.report import Row, feedback_html, feedback_names, feedback_text, write_csv, write_gradescope
from vaecourse.grading.submission import NotANotebook, detect_assignment, prepare, read_submission
from vaecourse.make_exercises import released_demos


@dataclass(frozen=True)
class GradeConfig:
    """How to grade: which assignment (None: recognised from the submissions), limits, parallelism."""

    assignment: str | None = None
    jobs: int = 1
    limits: Limits = field(default_factory=Limits)
    extra_checks: tuple[str, ...] = ()
    threads_per_job: int | None = None  # torch/OpenMP threads per kernel; None: cores // jobs
    hidden_seed: int | None = None  # the instructor's seed for the hidden inputs; None: released inputs only
    run_demos: bool = False  # also run the released demo cells a submission left unchanged (slower, same grade)
    demos: frozenset[str] = frozenset()  # filled in by `grade`: the sources of the released demo cells
    references: dict = field(default_factory=dict)  # filled in by `grade`: the reference runs (see precompute)


def resolve_assignment(paths: list[str], requested: str | None) -> str:
    """`requested`, else the assignment most submissions are recognised as."""
    if requested is not None:
        if requested not in ASSIGNMENTS:
            raise ValueError(f"Unknown assignment {requested!r}; choose one of {ASSIGNMENTS}.")
        return requested
    votes: Counter[str] = Counter()
    for path in paths:
        try:
            found = detect_assignment(read_submission(Path(path)), Path(path), ASSIGNMENTS)
        except NotANotebook:
            continue
        votes.update([found] if found else [])
    if not votes:
        raise ValueError("Cannot tell which assignment these submissions are: pass --assignment.")
    return votes.most_common(1)[0][0]


def grade(paths: list[str], config: GradeConfig) -> tuple[str, list[Exercise], list[Row]]:
    """(assignment, its exercises, one Row per path in order). Never raises for a bad submission."""
    assignment = resolve_assignment(paths, config.assignment)
    extra = [ex for file in config.extra_checks for ex in load_extra_checks(file)]
    exercises = exercises_for(assignment)
    exercises += [ex for ex in extra if ex.assignment == assignment and ex not in exercises]
    marker = f"VAECOURSE-GRADE-{secrets.token_hex(8)}:"
    if not config.run_demos:
        config = replace(config, demos=released_demos(assignment))
    config = replace(config, references=precompute(exercises, config.hidden_seed))
    rows = [Row(p, events=[("grader_error", "grading was interrupted")]) for p in paths]
    pool = ThreadPoolExecutor(max_workers=max(1, config.jobs))
    futures = {pool.submit(grade_one, p, exercises, config, marker): i for i, p in enumerate(paths)}
    try:
        for done, future in enumerate(as_completed(futures), start=1):
            i = futures[future]
            rows[i] = future.result()
            print(f"[{done}/{len(paths)}] {paths[i]}: {rows[i].status}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:  # keep the rows graded so far; the others say they were interrupted
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in list(_RUNNING):
            _stop(proc)
        raise GradingInterrupted(assignment, exercises, rows) from None
    pool.shutdown()
    return assignment, exercises, rows


def precompute(exercises: list[Exercise], hidden_seed: int | None) -> dict:
    """The reference runs of the training checks (released and hidden inputs), once for the whole class.

    Each check computes its reference before it calls the learner's function, so running it on a
    stub that is not written yet fills `fixtures.REFERENCE_RESULTS` and costs nothing else.
    """
    def stub(*args: object, **kwargs: object) -> None:
        raise NotImplementedError

    with guard.hidden_seed(hidden_seed):
        for exercise in exercises:
            run_variants(exercise, stub)
    return dict(fixtures.REFERENCE_RESULTS)


class GradingInterrupted(KeyboardInterrupt):
    """Ctrl-C during grading; carries (assignment, exercises, rows) so that the CSV is still written."""

    def __init__(self, assignment: str, exercises: list[Exercise], rows: list[Row]) -> None:
        super().__init__()
        self.result = (assignment, exercises, rows)


def grade_one(path: str, exercises: list[Exercise], config: GradeConfig, marker: str) -> Row:
    """Grade one submission; every failure becomes the row's status."""
    row = Row(path)
    try:
        nb = read_submission(Path(path))
        run_nb, events = prepare(nb, config.demos)
        row.events += [(e.code, e.detail) for e in events]
        result = _run_worker(run_nb, exercises, config, marker, row)
    except NotANotebook as e:
        row.events.append((e.event.code, e.event.detail))
        return row
    except Exception as e:  # noqa: BLE001 - never lose a row
        row.events.append(("grader_error", f"{type(e).__name__}: {str(e)[:200]}"))
        return row
    if result is not None:
        row.events += [(e["code"], e["detail"]) for e in result["events"]]
        row.results = {name: Result(**r) for name, r in result["results"].items()}
    missing = [ex.function for ex in exercises if row.results.get(ex.name, Result("", "", "")).status == "missing"]
    if missing:
        row.events.append(("missing_functions", ", ".join(dict.fromkeys(missing))))
    return row


def _run_worker(nb: nbformat.NotebookNode, exercises: list[Exercise], config: GradeConfig, marker: str,
                row: Row) -> dict | None:
    """Run the worker process on `nb`; its result dict, or None (and an event on `row`)."""
    limits = config.limits
    with tempfile.TemporaryDirectory(prefix="vaecourse-grade-") as tmp:
        work = Path(tmp)
        nbformat.write(nb, work / "submission.ipynb")
        job = {"notebook": str(work / "submission.ipynb"), "names": [ex.name for ex in exercises],
               "limits": asdict(limits), "extra_checks": [str(Path(f).resolve()) for f in config.extra_checks],
               "workdir": str(work), "marker": marker, "hidden_seed": config.hidden_seed,
               "references": config.references}
        (work / "job.json").write_text(json.dumps(job))
        with (work / "worker.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "vaecourse.grading.worker", str(work / "job.json"), str(work / "result.json")],
                cwd=work, env=_worker_env(config), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
            hard_limit = limits.hard_limit(len(exercises))
            _RUNNING.add(proc)
            try:
                proc.wait(timeout=hard_limit)
            except subprocess.TimeoutExpired:
                _stop(proc)
                row.events.append(("notebook_timeout", f"grading abandoned after {hard_limit:g} s"))
                return None
            finally:
                _RUNNING.discard(proc)
        if not (work / "result.json").exists():
            last = (work / "worker.log").read_text(errors="replace").strip().splitlines()[-1:] or [""]
            row.events.append(("grader_error", f"worker exit code {proc.returncode}: {last[0][:200]}"))
            return None
        return json.loads((work / "result.json").read_text())


_RUNNING: set[subprocess.Popen] = set()  # worker processes, stopped on Ctrl-C


def _stop(proc: subprocess.Popen) -> None:
    """Terminate the worker (which shuts its kernel down), then kill it if it lingers."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=wait)
            return
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue


def _worker_env(config: GradeConfig) -> dict[str, str]:
    threads = config.threads_per_job or max(1, (os.cpu_count() or 1) // max(1, config.jobs))
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


def write_feedback(directory: Path, rows: list[Row], exercises: list[Exercise], assignment: str) -> None:
    """Two files per submission in `directory`: NAME.md (Markdown) and NAME.html (a self-contained page)."""
    directory.mkdir(parents=True, exist_ok=True)
    for row, name in zip(rows, feedback_names([r.submission for r in rows])):
        (directory / name).write_text(feedback_text(row, exercises, assignment), encoding="utf-8")
        (directory / f"{name[:-3]}.html").write_text(feedback_html(row, exercises, assignment), encoding="utf-8")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vaecourse.grade", description=__doc__.split("\n\n")[0])
    p.add_argument("submissions", nargs="+", help="notebooks to grade (any file: bad ones get a status)")
    p.add_argument("--out", default="grades.csv", help="CSV file to write (default: grades.csv)")
    p.add_argument("--feedback-dir", help="write each submission's feedback here (Markdown and HTML)")
    p.add_argument("--gradescope", metavar="RESULTS.json",
                   help="also write Gradescope's results.json (one submission only; see GRADING.md)")
    p.add_argument("--assignment", choices=ASSIGNMENTS, help="default: recognised from the submissions")
    p.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel (default 1)")
    p.add_argument("--extra-checks", action="append", default=[], metavar="FILE.py",
                   help="an instructor's file of @register'ed checks (repeatable)")
    defaults = Limits()
    p.add_argument("--cell-timeout", type=float, default=defaults.cell_timeout, help="seconds per cell")
    p.add_argument("--notebook-timeout", type=float, default=defaults.notebook_timeout, help="seconds for all cells")
    p.add_argument("--check-timeout", type=float, default=defaults.check_timeout, help="seconds per check")
    p.add_argument("--max-output-bytes", type=int, default=defaults.max_output_bytes, help="kept per cell")
    p.add_argument("--kernel", default=defaults.kernel_name, help="kernel name (default python3)")
    p.add_argument("--threads-per-job", type=int, help="torch threads per kernel (default: cores // jobs)")
    p.add_argument("--run-demos", action="store_true",
                   help="also run the released demo cells a submission left unchanged (slower; same grades)")
    p.add_argument("--hidden-seed", type=int, default=_env_seed(),
                   help="seed of the hidden inputs every check also runs on; keep it private (default: "
                        "$VAECOURSE_HIDDEN_SEED, else a fresh random seed, printed at the end)")
    return p


def _env_seed() -> int | None:
    value = os.environ.get("VAECOURSE_HIDDEN_SEED")
    return int(value) if value else None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.gradescope and len(args.submissions) != 1:
        print("error: --gradescope grades exactly one submission", file=sys.stderr)
        return 2
    limits = Limits(args.cell_timeout, args.notebook_timeout, args.check_timeout, args.max_output_bytes,
                    kernel_name=args.kernel)
    seed = args.hidden_seed if args.hidden_seed is not None else secrets.randbelow(2**31)
    config = GradeConfig(args.assignment, args.jobs, limits, tuple(args.extra_checks), args.threads_per_job, seed,
                         args.run_demos)
    out, status = Path(args.out), 0
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a terminated run still writes its CSV
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(out if out.exists() else out.parent, os.W_OK):  # fail now, not after an hour
            raise OSError(f"cannot write {out}")
        assignment, exercises, rows = grade(args.submissions, config)
    except GradingInterrupted as e:
        (assignment, exercises, rows), status = e.result, 130
    except (ValueError, ImportError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
    write_csv(out, rows, exercises)
    if args.feedback_dir:
        write_feedback(Path(args.feedback_dir), rows, exercises, assignment)
    if args.gradescope:
        write_gradescope(Path(args.gradescope), rows[0], exercises)
    total = sum(ex.points for ex in exercises)
    print(f"Graded {len(rows)} submissions of {assignment} (max {total:g} points, hidden seed {seed}) -> {args.out}",
          file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
