"""`python -m vaecourse.grading.worker JOB.json RESULT.json`: grade one prepared submission.

The grader starts one worker process per submission, so that a submission that exhausts memory
or hangs can be killed without stopping the grader. JOB.json holds the notebook path, the check
names, the limits and the extra-check files; RESULT.json receives `execute.run_submission`'s dict.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import nbformat

from vaecourse.grading.execute import Limits, run_submission


def main(argv: list[str]) -> int:
    job_path, result_path = map(Path, argv)
    job = json.loads(job_path.read_text())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run the kernel's cleanup on terminate
    nb = nbformat.read(job["notebook"], as_version=4)
    result = run_submission(nb, job["names"], Limits(**job["limits"]), job["extra_checks"],
                            Path(job["workdir"]), job["marker"], job.get("hidden_seed"), job.get("references"))
    result_path.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
