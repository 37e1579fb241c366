"""Shared fixtures. Tests never touch the network and never write into ../shared."""

from __future__ import annotations

import os
import shutil
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from vaecourse.data import data_root

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"  # read-only copies of the datasets
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false")
# The grading corpus holds broken submissions on purpose: never collect them (e.g. with --nbval-lax).
collect_ignore = ["grading_corpus"]


def skip_or_fail(reason: str) -> None:
    """Skip on a learner's machine; fail in CI, where everything a test needs must be installed."""
    if IN_CI:
        pytest.fail(f"{reason} (CI must provide it)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a URL or resolve a host name fails at once."""

    def refuse(*args: object, **kwargs: object):
        raise urllib.error.URLError("network disabled in tests")

    def refuse_dns(*args: object, **kwargs: object):
        raise socket.gaierror("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse_dns)


@pytest.fixture(scope="session")
def mnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A writable data root with a copy of MNIST/raw/*.gz from data_root() or ../shared/data."""
    for source in (data_root(), SHARED_DATA):
        archives = sorted((source / "MNIST" / "raw").glob("*-ubyte.gz"))
        if len(archives) == 4:
            break
    else:
        skip_or_fail("no MNIST archives: set VAECOURSE_DATA to a folder with MNIST/raw/*.gz")
    raw = tmp_path_factory.mktemp("data") / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for archive in archives:
        shutil.copyfile(archive, raw / archive.name)  # torchvision extracts next to the copies
    return raw.parents[1]


@pytest.fixture(scope="session")
def tiny_bank(tmp_path_factory: pytest.TempPathFactory):
    """A small model bank on scikit-learn digits (no download), built once per test session."""
    from vaecourse.bank import BankSpec, load_bank

    spec = BankSpec(dataset="digits", betas=(0.5, 1.0, 4.0), latent_dims=(2, 4, 8), hidden=64, epochs=3, batch_size=64)
    return load_bank(spec, root=tmp_path_factory.mktemp("bank"), progress=False)


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tests use small tensors, and `make test` runs two workers on two cores: one thread each."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
