"""A pretend accelerator for CPU-only CI: the guard behind the course's device rule.

CUDA bugs of the kind "a model on the GPU is handed a CPU tensor" are invisible on a CPU machine.
Here, tensors moved to the device "meta" become `OnAccelerator` tensors: they compute with the
CPU's kernels (so every number is real) but report device meta, and every operation that mixes
them with CPU tensors raises the same error CUDA raises. Converting one to NumPy fails as it does
for a CUDA tensor. With `VAECOURSE_DEVICE=meta` the package trains and evaluates "on the
accelerator", so a notebook run under `install()` fails exactly where it would fail on a GPU.

Also counted: the peak bytes held on the accelerator at once (`peak_bytes()`), to check that
nothing needs more memory than Colab's T4 (15 GB).
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Iterator

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

ACCELERATOR = torch.device("meta")
_ALLOW_CPU_INDICES = {torch.ops.aten.index.Tensor, torch.ops.aten.index_put.default, torch.ops.aten.index_put_.default,
                      torch.ops.aten._index_put_impl_.default}
_CROSS_DEVICE_OK = {torch.ops.aten.copy_.default, torch.ops.aten._to_copy.default}
_memory = {"live": 0, "peak": 0}
_storages: dict[int, list[int]] = {}  # data_ptr -> [bytes, live tensors using it]


def _mismatch(func) -> RuntimeError:
    return RuntimeError(
        f"Expected all tensors to be on the same device, but found at least two devices, meta (the pretend "
        f"accelerator) and cpu! (in {func}; on a GPU this is 'cuda:0 and cpu')")


def _track(elem: torch.Tensor) -> None:
    """Count elem's storage as held on the accelerator until the last tensor using it is freed."""
    storage = elem.untyped_storage()
    key = storage.data_ptr()
    entry = _storages.setdefault(key, [storage.nbytes(), 0])
    if entry[1] == 0:
        _memory["live"] += entry[0]
        _memory["peak"] = max(_memory["peak"], _memory["live"])
    entry[1] += 1
    weakref.finalize(elem, _release, key)


def _release(key: int) -> None:
    entry = _storages[key]
    entry[1] -= 1
    if entry[1] == 0:
        _memory["live"] -= entry[0]
        del _storages[key]


class OnAccelerator(torch.Tensor):
    """A CPU tensor (`elem`) that pretends to live on the accelerator."""

    @staticmethod
    def __new__(cls, elem: torch.Tensor):
        if isinstance(elem, OnAccelerator):
            return elem
        out = torch.Tensor._make_wrapper_subclass(
            cls, elem.size(), strides=elem.stride(), storage_offset=elem.storage_offset(), dtype=elem.dtype,
            layout=elem.layout, device=ACCELERATOR, requires_grad=elem.requires_grad)
        out.elem = elem
        _track(elem)
        return out

    def __repr__(self) -> str:
        return f"{self.elem!r} (on the pretend accelerator)"

    def __tensor_flatten__(self):
        return ["elem"], None

    @staticmethod
    def __tensor_unflatten__(inner, meta, outer_size, outer_stride):
        return OnAccelerator(inner["elem"])

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        _check_same_device(func, args, kwargs)
        if func is torch.ops.aten._to_copy.default and _is_cpu(kwargs.get("device")):
            return func(*_map(_unwrap, args), **kwargs)  # accelerator -> CPU: a plain tensor
        if "device" in kwargs:
            kwargs = dict(kwargs, device=torch.device("cpu"))
        out = func(*_map(_unwrap, args), **{k: _map(_unwrap, v) for k, v in kwargs.items()})
        return _map(_wrap, out)


def _map(fn, value):
    """fn applied to every tensor in value (a tensor, or a list/tuple of them, one level deep)."""
    if isinstance(value, (list, tuple)):
        return type(value)(_map(fn, v) for v in value)
    return fn(value)


def _tensors(value, found: list) -> list:
    if isinstance(value, torch.Tensor):
        found.append(value)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _tensors(v, found)
    elif isinstance(value, dict):
        for v in value.values():
            _tensors(v, found)
    return found


def _is_cpu(device) -> bool:
    return device is not None and torch.device(device).type == "cpu"


def _unwrap(t):
    return t.elem if isinstance(t, OnAccelerator) else t


def _wrap(t):
    return OnAccelerator(t) if isinstance(t, torch.Tensor) and not isinstance(t, OnAccelerator) else t


def _check_same_device(func, args, kwargs) -> None:
    """Raise like CUDA when accelerator tensors meet CPU tensors of one or more dimensions."""
    if func in _CROSS_DEVICE_OK:
        return
    if func in _ALLOW_CPU_INDICES and isinstance(args[0], OnAccelerator):
        args = (args[0], *args[2:])  # CPU indices into an accelerator tensor are allowed, as on CUDA
    found = _tensors((args, kwargs), [])
    if any(isinstance(t, OnAccelerator) for t in found) and any(
            not isinstance(t, OnAccelerator) and t.dim() > 0 for t in found):
        raise _mismatch(func)


class _AcceleratorMode(TorchFunctionMode):
    """Routes the creation of accelerator tensors and refuses NumPy views of them."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.Tensor.numpy, torch.Tensor.__array__) and isinstance(args[0], OnAccelerator):
            raise TypeError("can't convert meta (pretend accelerator) device type tensor to numpy. "
                            "Use Tensor.cpu() to copy the tensor to host memory first.")
        if func is torch.Tensor.tolist and isinstance(args[0], OnAccelerator):
            return args[0].elem.tolist()
        if func is torch.Tensor.to and not isinstance(args[0], OnAccelerator):
            device, dtype, _, memory_format = torch._C._nn._parse_to(*args[1:], **kwargs)
            if device is not None and device.type == ACCELERATOR.type:
                plain = args[0].to(dtype=dtype or args[0].dtype, memory_format=memory_format or torch.preserve_format,
                                   copy=True)
                return OnAccelerator(plain)
        device = kwargs.get("device")
        if device is not None and torch.device(device).type == ACCELERATOR.type:
            return OnAccelerator(func(*args, **dict(kwargs, device="cpu")))
        return func(*args, **kwargs)


class _FactoryMode(TorchDispatchMode):
    """Tensors created for the accelerator below Python (e.g. by autograd formulas, `at::zeros({},
    grad.options())`) would be real meta tensors without data: create them on the CPU and wrap them."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        device = kwargs.get("device")
        if device is not None and torch.device(device).type == ACCELERATOR.type and not any(
                isinstance(t, OnAccelerator) for t in _tensors(args, [])):
            return _map(_wrap, func(*args, **dict(kwargs, device=torch.device("cpu"))))
        return func(*args, **kwargs)


_installed: list = []


def install() -> None:
    """From now on in this process: VAECOURSE_DEVICE=meta and the pretend accelerator (for a kernel)."""
    os.environ["VAECOURSE_DEVICE"] = ACCELERATOR.type
    for mode in (_AcceleratorMode(), _FactoryMode()):
        mode.__enter__()
        _installed.append(mode)


def uninstall() -> None:
    while _installed:
        _installed.pop().__exit__(None, None, None)
    os.environ.pop("VAECOURSE_DEVICE", None)


@contextlib.contextmanager
def pretend_accelerator() -> Iterator[torch.device]:
    """Within the block the package computes on the pretend accelerator (see the module docstring)."""
    before = os.environ.get("VAECOURSE_DEVICE")
    install()
    try:
        yield ACCELERATOR
    finally:
        uninstall()
        if before is not None:
            os.environ["VAECOURSE_DEVICE"] = before


def peak_bytes(reset: bool = False) -> int:
    """The most bytes held by accelerator tensors at once since the last reset."""
    peak = _memory["peak"]
    if reset:
        _memory["peak"] = _memory["live"]
    return peak
