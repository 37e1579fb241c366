"""vaecourse.data: real MNIST / Fashion-MNIST / digits from local files only, and clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from conftest import skip_or_fail
from vaecourse import data
from vaecourse.data import DatasetUnavailableError, data_root, load_dataset

pytestmark = pytest.mark.usefixtures("no_network")


def assert_images_and_labels(ds: data.Dataset, n: int, side: int) -> None:
    assert ds.images.shape == (n, 1, side, side) and len(ds) == n
    assert ds.images.dtype == torch.float32 and ds.labels.dtype == torch.int64
    assert ds.labels.shape == (n,)
    assert ds.images.min() == 0.0 and ds.images.max() == 1.0
    assert set(ds.labels.tolist()) == set(range(10))
    assert len(ds.classes) == 10


@pytest.mark.parametrize("split, n", [("train", 60000), ("test", 10000)])
def test_mnist_loads_from_local_archives_via_env(mnist_root, monkeypatch, split, n):
    monkeypatch.setenv("VAECOURSE_DATA", str(mnist_root))
    ds = load_dataset("mnist", split)
    assert_images_and_labels(ds, n, 28)
    assert (ds.name, ds.split, ds.classes[3]) == ("mnist", split, "3")
    assert (ds.images * 255 - (ds.images * 255).round()).abs().max() < 1e-4  # 256 grey levels
    assert ds.labels[:5].tolist() == ([5, 0, 4, 1, 9] if split == "train" else [7, 2, 1, 0, 4])


def test_loads_are_cached_in_memory_but_return_fresh_tensors(mnist_root, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    shutil.copytree(mnist_root / "MNIST" / "raw", raw, ignore=shutil.ignore_patterns("*-ubyte"))
    first = load_dataset("mnist", "test", root=tmp_path)
    shutil.rmtree(raw)  # so the second load can only come from memory
    first.images.zero_()
    second = load_dataset("mnist", "test", root=tmp_path)
    assert second.images.max() == 1.0, "mutating one result must not change the next"
    assert torch.equal(second.labels, first.labels)


@pytest.mark.parametrize("split, n", [("train", 60000), ("test", 10000)])
def test_fashion_mnist_from_the_debian_package(tmp_path, split, n):
    if data.fashion_system_dir() is None:
        skip_or_fail("Debian package dataset-fashion-mnist is not installed")
    ds = load_dataset("fashion-mnist", split, root=tmp_path)
    assert_images_and_labels(ds, n, 28)
    assert ds.classes == [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]
    assert ds.labels[0].item() == 9  # an ankle boot opens both splits
    raw = tmp_path / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(data.IDX_FILES)


def test_digits_are_sklearns_in_order_last_297_for_test():
    from sklearn.datasets import load_digits

    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert_images_and_labels(train, 1500, 8)
    assert_images_and_labels(test, 297, 8)
    assert train.image_shape == (1, 8, 8)
    digits = load_digits()
    assert torch.equal(test.labels, torch.from_numpy(digits.target[1500:]))
    expected = torch.from_numpy(digits.images[:1500]).float().unsqueeze(1) / 16
    assert torch.allclose(train.images, expected)


def test_subset_returns_the_first_n():
    ds = load_dataset("digits")
    small = ds.subset(10)
    assert len(small) == 10 and torch.equal(small.images, ds.images[:10])
    assert torch.equal(small.labels, ds.labels[:10]) and small.classes == ds.classes
    with pytest.raises(ValueError, match="1500"):
        ds.subset(1501)


def test_static_binarisation_is_one_fixed_sample_per_seed():
    grey = load_dataset("digits")
    a = load_dataset("digits", binarize="static", seed=1)
    b = load_dataset("digits", binarize="static", seed=1)
    c = load_dataset("digits", binarize="static", seed=2)
    assert set(a.images.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    assert a.images[grey.images == 0].max() == 0 and a.images[grey.images == 1].min() == 1
    assert abs(a.images.mean().item() - grey.images.mean().item()) < 0.01  # E[Bernoulli(p)] = p


def test_threshold_binarisation():
    grey = load_dataset("digits", "test")
    ds = load_dataset("digits", "test", binarize="threshold")
    assert torch.equal(ds.images, (grey.images > 0.5).float())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "cifar10"}, r"Unknown name 'cifar10'.*mnist.*fashion-mnist.*digits"),
        ({"name": "digits", "split": "valid"}, r"Unknown split 'valid'.*train.*test"),
        ({"name": "digits", "binarize": "dynamic"}, r"Unknown binarize 'dynamic'.*static.*TrainConfig"),
        ({"name": "digits", "binarize": True}, r"Unknown binarize True.*threshold"),
    ],
)
def test_bad_arguments_name_the_valid_choices(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_dataset(**kwargs)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_offline_without_files_raises_one_clear_error(tmp_path, monkeypatch, name):
    monkeypatch.setattr(data, "fashion_system_dir", lambda: None)
    with pytest.raises(DatasetUnavailableError) as info:
        load_dataset(name, root=tmp_path)
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert "VAECOURSE_DATA" in message and str(tmp_path) in message and 'name="digits"' in message
    assert "network disabled in tests" in message  # the cause is shown, not swallowed
    assert ("apt-get install dataset-fashion-mnist" in message) == (name == "fashion-mnist")


def test_read_only_data_folder_is_never_written(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    raw.chmod(0o555)
    try:
        with pytest.raises(DatasetUnavailableError, match="read-only"):
            load_dataset("mnist", root=tmp_path)
    finally:
        raw.chmod(0o755)
    assert list(raw.iterdir()) == []


def test_root_resolution_order(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("VAECOURSE_DATA", raising=False)
    assert data_root() == tmp_path / "home" / ".cache" / "vaecourse" / "data"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_root() == tmp_path / "xdg" / "vaecourse" / "data"
    monkeypatch.setenv("VAECOURSE_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root("~/x") == tmp_path / "home" / "x"


def test_fashion_system_dir_is_where_debian_puts_the_files():
    found = data.fashion_system_dir()
    if found is None:
        skip_or_fail("Debian package dataset-fashion-mnist is not installed")
    assert sorted(p.name for p in Path(found).glob("*-ubyte.gz")) == sorted(f + ".gz" for f in data.IDX_FILES)


def test_repr_is_short_and_deterministic():
    assert repr(load_dataset("digits", "test")) == "Dataset('digits', 'test', images=(297, 1, 8, 8), classes=10)"
