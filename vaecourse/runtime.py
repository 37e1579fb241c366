"""Where and how the course computes: device, CPU threads, precision, memory layout, progress.

The device rule (CONTRIBUTING.md, "Devices"): everything a learner holds lives on the CPU —
datasets, models they build, models from the bank and models after `fit`. The package moves work
to the fastest device inside its own functions and hands results back on the CPU, so a learner's
`vae.encode(x_test)` or `vae.decode(z)` runs the same on a laptop and on Colab's GPU.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

# A progress bar redraws at most this many times per run (plus once per epoch for its postfix).
BAR_REDRAWS = 200
# torch's own default (one thread per physical core), read before anyone changes it.
TORCH_DEFAULT_THREADS = torch.get_num_threads()


def device(preferred: str | torch.device | None = None) -> torch.device:
    """Where heavy work runs: `preferred` if given, else $VAECOURSE_DEVICE, else cuda, else mps, else cpu.

    VAECOURSE_DEVICE=cpu keeps a GPU machine on the CPU (e.g. to compare timings); the tests set it to
    a pretend accelerator to check the device rule on CPU-only machines (tests/fake_accelerator.py).
    """
    preferred = preferred if preferred is not None else os.environ.get("VAECOURSE_DEVICE") or None
    if preferred is not None:
        return torch.device(preferred)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's first parameter or buffer (cpu for a model with neither)."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def to_cpu(value: Any) -> Any:
    """`value` with every tensor in it (also inside tuples, lists and dicts) detached and on the CPU."""
    if isinstance(value, Tensor):
        return value.detach().cpu()
    if isinstance(value, (tuple, list)):
        return type(value)(to_cpu(v) for v in value)
    if isinstance(value, dict):
        return {k: to_cpu(v) for k, v in value.items()}
    return value


def owner_device(fn: Callable) -> torch.device | None:
    """The device of the model behind `fn` (a model, or a bound method such as `vae.decode`); else None."""
    owner = fn if isinstance(fn, nn.Module) else getattr(fn, "__self__", None)
    return model_device(owner) if isinstance(owner, nn.Module) else None


def call(fn: Callable, *tensors: Tensor) -> Any:
    """fn(*tensors) computed where fn's model lives, the result back on the CPU.

    For package code that is handed a model or a bound method (`vae.decode`) and builds its own
    inputs on the CPU: `runtime.call(decode, z)` works wherever the learner's model is.
    """
    dev = owner_device(fn)
    if dev is not None:
        tensors = tuple(t.to(dev) for t in tensors)
    return to_cpu(fn(*tensors))


@contextlib.contextmanager
def on_device(model: nn.Module, dev: torch.device | str) -> Iterator[torch.device]:
    """Move `model` to `dev` for the block, then back to where it was (in place, like `model.to`)."""
    dev, home = torch.device(dev), model_device(model)
    if dev == home:
        yield dev
        return
    model.to(dev)
    try:
        yield dev
    finally:
        model.to(home)


def progress_bar(total: int, *, enabled: bool = True, desc: str | None = None) -> tqdm:
    """A tqdm bar over `total` steps that redraws at most ~BAR_REDRAWS times, and at most twice a second.

    In a notebook every redraw is a widget message. Jupyter only delivers so many unread messages:
    nbval reads a cell's messages when the cell ends, so a long cell that redrew thousands of
    times lost its final message, and nbval failed with "Timeout of 5 seconds exceeded waiting
    for output" (measured here: 6,000 redraws in one cell fail, 3,000 pass; tests/test_progress.py).
    leave=True: a finished bar stays (a closed one would leave a dead widget in saved notebooks).
    In projector mode (`vaecourse.style.projector_mode()`) progress is one short line that goes away
    when done, so a projected cell shows results, not a stack of finished bars.
    """
    from vaecourse.style import projector_enabled  # matplotlib-level module: imported only when a bar is made

    compact = projector_enabled()
    return tqdm(total=total, disable=not enabled, unit="step", desc=desc, leave=not compact,
                miniters=max(1, math.ceil(total / BAR_REDRAWS)), mininterval=0.5,
                bar_format="{desc}{percentage:3.0f}% | {elapsed} < {remaining}" if compact else None)


@contextlib.contextmanager
def channels_last(model: nn.Module, enabled: bool = True) -> Iterator[None]:
    """Keep a convolutional model's weights in channels-last layout for the duration, then restore.

    oneDNN's CPU convolutions run faster on it: bf16 training 10-16 %, float32 evaluation 1.35-1.4x
    (measured here on ConvVAE). No-op for models without convolutions, or already channels-last.
    """
    convs = [m.weight for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)]
    change = enabled and any(not w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    if change:
        model.to(memory_format=torch.channels_last)
    try:
        yield
    finally:
        if change:
            model.to(memory_format=torch.contiguous_format)


def bf16_is_fast(dev: torch.device | str) -> bool:
    """True where bfloat16 matrix products run on dedicated hardware.

    A CUDA GPU of compute capability 8.0 or newer (Ampere and later; Colab's free T4 is 7.5: no
    bfloat16 units, torch would emulate it slowly), or a CPU with AMX tiles (Intel Sapphire Rapids
    and later; read from /proc/cpuinfo, so False where that file does not exist, e.g. Windows).
    """
    dev = torch.device(dev)
    if dev.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.get_device_capability(dev)[0] >= 8
    if dev.type == "cpu":
        try:
            with open("/proc/cpuinfo") as f:
                return any(line.startswith("flags") and " amx_bf16" in line for line in f)
        except OSError:
            return False
    return False


def uses_bf16(precision: str, dev: torch.device | str) -> bool:
    """Whether training with `precision` ("fp32", "bf16" or "auto") runs under bfloat16 autocast on `dev`."""
    if torch.device(dev).type not in ("cpu", "cuda"):
        return False  # autocast's bfloat16 is for these two; elsewhere train in float32
    return precision == "bf16" or (precision == "auto" and bf16_is_fast(dev))


def autocast(dev: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """torch.autocast(bfloat16) on cpu/cuda when enabled; a no-op context everywhere else."""
    if not enabled or dev.type not in ("cpu", "cuda"):
        return contextlib.nullcontext()
    return torch.autocast(dev.type, torch.bfloat16)


def idle_cores(sample_seconds: float = 0.2) -> float | None:
    """How many CPU cores no process used over the next `sample_seconds` (Linux); None if unknown.

    Reads /proc/stat twice; the calling process sleeps in between, so only others count.
    Elsewhere (Windows, macOS) there is no /proc/stat: None, and callers fall back to torch's default.
    """
    def snapshot() -> tuple[int, int]:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]  # user … steal, in clock ticks
        return fields[3] + fields[4], sum(fields)  # (idle + iowait, total)

    try:
        idle0, total0 = snapshot()
        time.sleep(sample_seconds)
        idle1, total1 = snapshot()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    return (os.cpu_count() or 1) * (idle1 - idle0) / (total1 - total0)


def auto_threads() -> int:
    """Torch CPU threads to use now: one per idle core, at least 1, at most torch's default.

    Measured on this project's 2-core machine: two threads train the model bank 2x faster than
    one when the machine is idle, but 2-5x *slower* when another process wants a core (every
    parallel region waits for the thread that was descheduled). So look before choosing.
    """
    idle = idle_cores()
    if idle is None:
        return TORCH_DEFAULT_THREADS
    return max(1, min(TORCH_DEFAULT_THREADS, int(idle + 0.2)))  # 1.8 idle cores count as 2


@contextlib.contextmanager
def torch_threads(num_threads: int | str | None) -> Iterator[None]:
    """Use `num_threads` torch CPU threads inside the block ("auto": `auto_threads()`; None: leave
    as is), then restore the previous count."""
    before = torch.get_num_threads()
    if num_threads == "auto":
        num_threads = auto_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def describe(dev: torch.device | None = None) -> str:
    """One line for learners: where training runs, with how many threads, in which precision."""
    dev = device() if dev is None else dev
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev)
        where = f"the GPU ({name}, {torch.cuda.get_device_properties(dev).total_memory / 2**30:.0f} GiB)"
    else:
        where = f"the {dev.type.upper()}" + (f" with {torch.get_num_threads()} torch threads" if dev.type == "cpu" else "")
    precision = "bfloat16 autocast where it is fast" if bf16_is_fast(dev) else "float32 (no fast bfloat16 here)"
    return f"vaecourse: training runs on {where}; precision='auto' means {precision}; your tensors and models stay on the CPU."


def setup(seed: int | None = 0, *, threads: int | str | None = "auto", verbose: bool = True) -> torch.device:
    """The one runtime call at the top of a notebook: CPU threads, the global seed, a summary line.

    threads: "auto" (one torch thread per idle core), a number, or None to leave torch's choice.
    Returns the device heavy work runs on (`device()`).
    """
    if threads == "auto":
        threads = auto_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    if seed is not None:
        torch.manual_seed(seed)
    dev = device()
    if verbose:
        print(describe(dev))
    return dev
