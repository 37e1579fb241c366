"""Datasets as in-memory tensors: images (N, 1, H, W) float32 in [0, 1], labels (N,) int64.

Offline first. The data root is `root`, else $VAECOURSE_DATA, else ~/.cache/vaecourse/data
(under $XDG_CACHE_HOME when set). MNIST is read from <root>/MNIST/raw/*.gz (torchvision's
layout, downloaded there once if missing); Fashion-MNIST from Debian's dataset-fashion-mnist
package when installed, else torchvision's download; "digits" ships with scikit-learn.
Run `python -m vaecourse.data` to see which datasets this machine can load.
"""

from __future__ import annotations

import functools
import gzip
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

DATASETS = ("mnist", "fashion-mnist", "digits")
SPLITS = ("train", "test")
BINARIZE = (None, "static", "threshold")
DIGIT_CLASSES = tuple(str(i) for i in range(10))
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
CLASSES = {"mnist": DIGIT_CLASSES, "fashion-mnist": FASHION_CLASSES, "digits": DIGIT_CLASSES}
# Where `apt-get install dataset-fashion-mnist` puts its four *-ubyte.gz files.
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = (  # torchvision's uncompressed names in <root>/<Dataset>/raw/
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
)
DIGITS_N_TEST = 297  # load_digits() has 1797 images: the first 1500 train, the last 297 test
DOWNLOAD_TIMEOUT_S = 30.0  # per socket operation, so that a silently dropped connection fails


class DatasetUnavailableError(RuntimeError):
    """The dataset is neither on disk nor downloadable; the message says what to do."""


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """images (N, 1, H, W) float32 in [0, 1]; labels (N,) int64; classes[label] is its name."""

    images: Tensor
    labels: Tensor
    classes: list[str]
    name: str
    split: str

    def __len__(self) -> int:
        return self.images.shape[0]

    def __repr__(self) -> str:
        shape = tuple(self.images.shape)
        return f"Dataset({self.name!r}, {self.split!r}, images={shape}, classes={len(self.classes)})"

    @property
    def image_shape(self) -> tuple[int, ...]:
        """(C, H, W) of one image, e.g. for ModelConfig.input_shape."""
        return tuple(self.images.shape[1:])

    def subset(self, n: int) -> Dataset:
        """The first n examples: images (n, 1, H, W), labels (n,)."""
        if not 0 <= n <= len(self):
            raise ValueError(f"subset needs 0 <= n <= {len(self)}, got {n}.")
        return Dataset(self.images[:n], self.labels[:n], list(self.classes), self.name, self.split)


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data folder: `root` if given, else $VAECOURSE_DATA, else the per-user cache."""
    if root is None:
        root = os.environ.get("VAECOURSE_DATA") or None
    if root is None:
        cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = Path(cache) / "vaecourse" / "data"
    return Path(root).expanduser().absolute()


def load_dataset(
    name: str,
    split: str = "train",
    *,
    root: str | os.PathLike | None = None,
    binarize: str | None = None,
    seed: int = 0,
) -> Dataset:
    """images (N, 1, H, W) float32 in [0, 1], labels (N,) int64 of one split of `name`.

    binarize: None keeps grey levels; "static" draws one Bernoulli sample with `seed` (a fixed
    binarised set, for likelihoods in nats); "threshold" is x > 0.5. Dynamic binarisation
    (a fresh sample every batch) is `TrainConfig(binarize=True)` in the trainer instead.
    """
    name = _check_choice("name", name.lower().replace("_", "-"), DATASETS)
    split = _check_choice("split", split, SPLITS)
    _check_binarize(binarize)
    images_u8, labels, levels = _load_raw(name, split, str(data_root(root)))
    images = images_u8.unsqueeze(1).float() / levels  # (N, 1, H, W); a fresh copy every call
    images = _binarize(images, binarize, seed)
    return Dataset(images, labels.clone(), list(CLASSES[name]), name, split)


def _check_choice(what: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"Unknown {what} {value!r}; choose one of {choices}.")
    return value


def _check_binarize(binarize: object) -> None:
    if binarize not in BINARIZE:
        hint = " Dynamic binarisation is TrainConfig(binarize=True)." if binarize in (True, "dynamic") else ""
        raise ValueError(f"Unknown binarize {binarize!r}; choose one of {BINARIZE}.{hint}")


def _binarize(images: Tensor, binarize: str | None, seed: int) -> Tensor:
    """(N, 1, H, W) in [0, 1] -> the same shape, in {0, 1} unless binarize is None."""
    if binarize == "static":
        return torch.bernoulli(images, generator=torch.Generator().manual_seed(seed))
    if binarize == "threshold":
        return (images > 0.5).float()
    return images


@functools.lru_cache(maxsize=8)
def _load_raw(name: str, split: str, root: str) -> tuple[Tensor, Tensor, int]:
    """(images (N, H, W) uint8, labels (N,) int64, the pixel value that means 1.0); cached."""
    if name == "digits":
        return _load_digits(split)
    if name == "mnist":
        return _load_mnist(Path(root), split == "train")
    return _load_fashion(Path(root), split == "train")


def _load_digits(split: str) -> tuple[Tensor, Tensor, int]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.from_numpy(digits.images).to(torch.uint8)  # (1797, 8, 8), values 0..16
    labels = torch.from_numpy(digits.target).long()
    n_train = len(labels) - DIGITS_N_TEST
    part = slice(0, n_train) if split == "train" else slice(n_train, None)
    return images[part].clone(), labels[part].clone(), 16


def _load_mnist(root: Path, train: bool) -> tuple[Tensor, Tensor, int]:
    from torchvision.datasets import MNIST

    raw = root / "MNIST" / "raw"
    if not _has_idx_files(raw):
        _check_writable(raw)  # torchvision extracts the .gz archives next to themselves
    try:
        with _download_timeout():
            ds = MNIST(root, train=train, download=True)
    except (RuntimeError, OSError) as err:
        raise _unavailable("mnist", root, err) from err
    return ds.data, ds.targets.long(), 255


def _load_fashion(root: Path, train: bool) -> tuple[Tensor, Tensor, int]:
    from torchvision.datasets import FashionMNIST

    raw = root / "FashionMNIST" / "raw"
    system_dir = fashion_system_dir()
    if not _has_idx_files(raw) and system_dir is not None:
        _decompress_into(system_dir, raw)
    try:
        with _download_timeout():
            ds = FashionMNIST(root, train=train, download=not _has_idx_files(raw))
    except (RuntimeError, OSError) as err:
        raise _unavailable("fashion-mnist", root, err) from err
    return ds.data, ds.targets.long(), 255


def fashion_system_dir() -> Path | None:
    """The folder of Debian's dataset-fashion-mnist *-ubyte.gz files, or None if not installed."""
    if _has_idx_files(FASHION_SYSTEM_DIR, ".gz"):
        return FASHION_SYSTEM_DIR
    if shutil.which("dpkg") is None:
        return None
    listing = subprocess.run(["dpkg", "-L", "dataset-fashion-mnist"], capture_output=True, text=True)
    for line in listing.stdout.splitlines():
        if line.endswith(IDX_FILES[0] + ".gz"):
            return Path(line).parent if _has_idx_files(Path(line).parent, ".gz") else None
    return None


def _has_idx_files(folder: Path, suffix: str = "") -> bool:
    return all((folder / (f + suffix)).is_file() for f in IDX_FILES)


def _decompress_into(src: Path, raw: Path) -> None:
    """Gunzip src/*-ubyte.gz into raw/ (uncompressed IDX names); atomic, so parallel runs are safe."""
    _check_writable(raw)
    raw.mkdir(parents=True, exist_ok=True)
    for f in IDX_FILES:
        with gzip.open(src / (f + ".gz")) as fin, tempfile.NamedTemporaryFile(dir=raw, delete=False) as tmp:
            shutil.copyfileobj(fin, tmp)
        os.chmod(tmp.name, 0o644)
        os.replace(tmp.name, raw / f)


def _check_writable(folder: Path) -> None:
    """Refuse to write into a read-only folder (no write bit), such as a shared copy of the data."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not (os.access(existing, os.W_OK) and existing.stat().st_mode & stat.S_IWUSR):
        raise DatasetUnavailableError(
            f"{existing} is read-only, but the data must be extracted inside {folder}. Copy the "
            f"*.gz archives into a writable folder with the same layout and set VAECOURSE_DATA to it."
        )


@contextmanager
def _download_timeout() -> Iterator[None]:
    """Make a stalled download fail after DOWNLOAD_TIMEOUT_S instead of hanging forever."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _unavailable(name: str, root: Path, err: BaseException) -> DatasetUnavailableError:
    folder = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}[name]
    reason = ([line for line in str(err).splitlines() if line.strip()] or [type(err).__name__])[-1].strip()
    fixes = [
        f"set VAECOURSE_DATA (now {os.environ.get('VAECOURSE_DATA') or 'unset'}) or root= to a folder "
        f"that contains {folder}/raw/ with the four *-ubyte.gz archives (torchvision's layout)",
        "or connect to the internet once: torchvision then downloads them into that folder",
        'or use name="digits", which ships with scikit-learn and needs no download',
    ]
    if name == "fashion-mnist":
        fixes.insert(0, "on Debian/Ubuntu: `apt-get install dataset-fashion-mnist` (found automatically)")
    return DatasetUnavailableError(
        f"Could not load {name!r}: {root / folder / 'raw'} has no copy and the download failed "
        f"({reason}). To fix it:\n  - " + "\n  - ".join(fixes)
    )


def _main() -> int:
    """Print which datasets load from the data root; exit status 1 if any cannot."""
    print(f"data root: {data_root()}")
    failures = 0
    for name in DATASETS:
        try:
            for split in SPLITS:
                ds = load_dataset(name, split)
                print(f"  {name:<14} {split:<5} {len(ds):>6} images of {ds.image_shape}")
        except DatasetUnavailableError as err:
            failures += 1
            print(f"  {name:<14} unavailable. {err}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(_main())
