"""Shared helpers for the benchmark scripts: data, machine description, robust statistics."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

import torch
from torch import Tensor

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as `python benchmarks/bench_x.py` from a checkout
    sys.path.insert(0, str(REPO))


def data_root() -> str:
    """$VAECOURSE_DATA, else the repository's .cache/data (torchvision's MNIST layout)."""
    return os.environ.get("VAECOURSE_DATA") or str(REPO / ".cache" / "data")


def mnist_tensors(split: str) -> Tensor:
    """MNIST images (N, 1, 28, 28) float32 in [0, 1], exactly what ToTensor gives per image."""
    try:
        from vaecourse.data import load_dataset
    except ImportError:  # before vaecourse.data existed
        from torchvision.datasets import MNIST

        ds = MNIST(data_root(), train=split == "train", download=True)
        return ds.data.unsqueeze(1).float().div(255)
    return load_dataset("mnist", split, root=data_root()).images


def cpu_model() -> str:
    """The CPU's model name as lscpu prints it."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def machine() -> str:
    """One line: CPU, cores, load, GPU, torch version, date."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    load = "%.1f %.1f %.1f" % os.getloadavg()
    return (
        f"{cpu_model()}, {os.cpu_count()} cores (load avg {load}), {gpu}, "
        f"torch {torch.__version__} (default {torch.get_num_threads()} threads), "
        f"Python {platform.python_version()}, {datetime.date.today().isoformat()}"
    )


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float], fmt: str = ".3g") -> str:
    """'median [min–max]', each formatted with `fmt`."""
    return f"{median(values):{fmt}} [{min(values):{fmt}}–{max(values):{fmt}}]"


def command_line() -> str:
    return "python " + " ".join([os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]])
