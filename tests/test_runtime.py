"""vaecourse.runtime: device choice and the device rule, threads, precision (T4 included)."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from fake_accelerator import pretend_accelerator
from vaecourse import runtime
from vaecourse.config import TrainConfig


# --- device ---------------------------------------------------------------------------------------

def test_device_prefers_what_is_asked_then_cuda_then_cpu(monkeypatch):
    assert runtime.device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert runtime.device() == torch.device("cpu")


def test_model_device_reads_parameters_then_buffers():
    assert runtime.model_device(nn.Linear(2, 2).to("meta")) == torch.device("meta")
    bn = nn.BatchNorm1d(3, affine=False).to("meta")  # buffers only
    assert runtime.model_device(bn) == torch.device("meta")
    assert runtime.model_device(nn.ReLU()) == torch.device("cpu")


def test_on_device_moves_the_model_and_puts_it_back():
    model = nn.Linear(3, 2)
    before = model.weight.detach().clone()
    with pretend_accelerator() as accelerator, runtime.on_device(model, accelerator) as dev:
        assert dev == accelerator and model.weight.device == accelerator
    assert model.weight.device.type == "cpu" and torch.equal(model.weight.detach(), before)


def test_on_device_puts_the_model_back_after_an_error():
    model = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match="boom"), pretend_accelerator() as accelerator:
        with runtime.on_device(model, accelerator):
            raise RuntimeError("boom")
    assert model.weight.device.type == "cpu"


def test_to_cpu_detaches_nested_results():
    x = torch.ones(2, requires_grad=True) * 2
    out = runtime.to_cpu({"a": (x, [x]), "b": 3})
    assert not out["a"][0].requires_grad and not out["a"][1][0].requires_grad and out["b"] == 3


def test_call_uses_the_bound_models_device():
    model = nn.Linear(3, 2)
    z = torch.randn(4, 3)
    torch.testing.assert_close(runtime.call(model, z), model(z).detach())
    assert runtime.owner_device(model.forward) == torch.device("cpu")
    assert runtime.owner_device(lambda z: z) is None


# --- threads ----------------------------------------------------------------------------------------

def _fake_proc_stat(monkeypatch, snapshots: list[str]) -> None:
    lines = iter(snapshots)
    monkeypatch.setattr(runtime, "open", lambda *a, **k: io.StringIO(next(lines)), raising=False)
    monkeypatch.setattr(runtime.time, "sleep", lambda s: None)


def test_idle_cores_reads_the_idle_share_between_two_snapshots(monkeypatch):
    monkeypatch.setattr(runtime.os, "cpu_count", lambda: 4)
    # user nice system idle iowait irq softirq steal: +100 busy, +250 idle, +50 iowait of 400 ticks
    _fake_proc_stat(monkeypatch, ["cpu 1000 0 0 5000 100 0 0 0 0 0\n",
                                  "cpu 1100 0 0 5250 150 0 0 0 0 0\n"])
    assert runtime.idle_cores() == pytest.approx(4 * 300 / 400)


def test_idle_cores_is_none_where_proc_stat_is_missing(monkeypatch):
    """Windows and macOS have no /proc/stat: the thread choice falls back to torch's default."""
    def missing(*args, **kwargs):
        raise FileNotFoundError("/proc/stat")
    monkeypatch.setattr(runtime, "open", missing, raising=False)
    assert runtime.idle_cores() is None
    monkeypatch.setattr(runtime, "TORCH_DEFAULT_THREADS", 3)
    assert runtime.auto_threads() == 3


@pytest.mark.parametrize("idle, expected", [(0.1, 1), (0.9, 1), (1.5, 1), (1.85, 2), (7.0, 2), (None, 2)])
def test_auto_threads_uses_one_thread_per_idle_core(monkeypatch, idle, expected):
    monkeypatch.setattr(runtime, "TORCH_DEFAULT_THREADS", 2)
    monkeypatch.setattr(runtime, "idle_cores", lambda: idle)
    assert runtime.auto_threads() == expected


def test_setup_sets_threads_and_seed_and_says_where_training_runs(monkeypatch, capsys):
    before = torch.get_num_threads()
    monkeypatch.setattr(runtime, "auto_threads", lambda: 1)
    try:
        dev = runtime.setup(seed=3)
        first = torch.rand(2)
        runtime.setup(seed=3, verbose=False)
        assert torch.equal(first, torch.rand(2))
        assert torch.get_num_threads() == 1 and dev == runtime.device()
        assert "training runs on the CPU with 1 torch threads" in capsys.readouterr().out
    finally:
        torch.set_num_threads(before)


# --- precision ----------------------------------------------------------------------------------------

def test_auto_precision_follows_the_hardware(monkeypatch):
    cpu = torch.device("cpu")
    for fast in (True, False):
        monkeypatch.setattr(runtime, "bf16_is_fast", lambda device, fast=fast: fast)
        assert runtime.uses_bf16("auto", cpu) is fast
        assert runtime.uses_bf16("bf16", cpu) is True
        assert runtime.uses_bf16("fp32", cpu) is False
    assert runtime.uses_bf16("bf16", "mps") is False  # autocast's bfloat16 only on cpu and cuda


def test_bf16_is_fast_reads_the_amx_flag(monkeypatch):
    def cpuinfo(flags):
        return lambda *a, **k: io.StringIO(f"processor\t: 0\nflags\t\t: fpu sse2 {flags}\n")
    monkeypatch.setattr(runtime, "open", cpuinfo("avx512f amx_bf16 amx_tile"), raising=False)
    assert runtime.bf16_is_fast("cpu")
    monkeypatch.setattr(runtime, "open", cpuinfo("avx512f avx512_bf16"), raising=False)
    assert not runtime.bf16_is_fast("cpu")
    assert not runtime.bf16_is_fast("meta")


@pytest.mark.parametrize("gpu, capability, fast", [("Tesla T4", (7, 5), False), ("Tesla V100", (7, 0), False),
                                                   ("NVIDIA A100", (8, 0), True), ("NVIDIA H200", (9, 0), True)])
def test_auto_precision_on_gpus_t4_trains_in_float32(monkeypatch, gpu, capability, fast):
    """Colab's free T4 has no bfloat16 units (torch would emulate them slowly): auto means float32 there."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert runtime.bf16_is_fast("cuda") is fast
    assert runtime.uses_bf16(TrainConfig(precision="auto").precision, torch.device("cuda")) is fast


def test_describe_names_the_gpu_and_its_precision(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda device=None: SimpleNamespace(total_memory=15 * 2**30))
    line = runtime.describe(torch.device("cuda"))
    assert "Tesla T4, 15 GiB" in line and "float32" in line and "stay on the CPU" in line


def test_projector_mode_keeps_progress_to_one_short_line(monkeypatch, capsys):
    monkeypatch.delenv("VAECOURSE_PROJECTOR", raising=False)
    normal = runtime.progress_bar(10)
    monkeypatch.setenv("VAECOURSE_PROJECTOR", "1")
    compact = runtime.progress_bar(10)
    for bar in (normal, compact):
        bar.update(10)
        bar.close()
    assert normal.leave and not compact.leave
    assert "{bar}" not in compact.bar_format and "|##" not in capsys.readouterr().err.split("\n")[-1]
