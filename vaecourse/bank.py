"""The model bank: a grid of trained VAEs over β × latent dimension, behind the sliders.

Built once (all members trained together, see `vaecourse.ensemble`), saved under the data
root, then loaded in a fraction of a second by any notebook or kernel. Everything a slider
shows is computed at build time, so moving a slider only redraws.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor

from vaecourse.analysis import INFORMATIVE_NATS
from vaecourse.data import data_root, load_dataset
from vaecourse.ensemble import StackedVAE, stacked_losses, train_stacked
from vaecourse.losses import kl_divergence_per_dim
from vaecourse.models import VAE
from vaecourse.runtime import device as runtime_device, torch_threads

FORMAT_VERSION = 2
ACTIVE_THRESHOLD = 0.01  # a latent unit is active when Var_x(E_q[z_j]) exceeds this


@dataclass(frozen=True)
class BankSpec:
    """What the bank holds and how it is trained; its hash names the cache file."""

    dataset: str = "mnist"
    betas: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    latent_dims: tuple[int, ...] = (2, 4, 8, 16, 32, 64)
    hidden: int = 256
    epochs: int = 2
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0

    def key(self) -> str:
        """Short content hash of the spec (and the file format)."""
        text = json.dumps({"format": FORMAT_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def grid(self) -> list[tuple[float, int]]:
        """Members in storage order: (beta, latent_dim), β-major."""
        return [(b, d) for b in self.betas for d in self.latent_dims]


@dataclass(frozen=True)
class BankEntry:
    """What the sliders show for one (β, latent_dim). Losses in nats per test image."""

    beta: float
    latent_dim: int
    recon: Tensor  # (n_show, C, H, W): decode(mu) of the bank's fixed test images
    samples: Tensor  # (n_show, C, H, W): decode(z) for fixed z ~ N(0, I)
    neg_elbo: float  # recon + kl (β = 1), one z sample per image
    recon_nats: float  # distortion: summed BCE per image
    kl: float  # rate: KL(q(z|x) || p(z)) per image
    kl_per_dim: Tensor  # (latent_dim,)
    mu_var: Tensor  # (latent_dim,): Var over test images of the posterior mean, per dimension
    active_units: int  # dimensions with mu_var > 0.01 (Burda et al.'s definition)

    @property
    def informative(self) -> Tensor:
        """(latent_dim,) bool: dimensions whose KL exceeds INFORMATIVE_NATS nats per image.

        After only two epochs, unused dimensions have not fully collapsed (Var of mu ~ 0.05),
        so Burda's active-unit count overstates use; the KL separates them clearly.
        """
        return self.kl_per_dim > INFORMATIVE_NATS


class ModelBank:
    """Trained grid plus precomputed views; `entry(beta, d)` and `model(beta, d)` look up members."""

    def __init__(self, spec: BankSpec, payload: dict, path: Path | None = None) -> None:
        self.spec, self.payload, self.path = spec, payload, path
        self.x_show: Tensor = payload["x_show"]  # (n_show, C, H, W)
        self.labels_show: Tensor = payload["labels_show"]
        self.build_seconds: float = payload["build_seconds"]
        self._index = {member: i for i, member in enumerate(spec.grid())}
        self.strips: dict = {}  # (beta, latent_dim) -> rendered image strip, filled by widgets

    @property
    def betas(self) -> tuple[float, ...]:
        return self.spec.betas

    @property
    def latent_dims(self) -> tuple[int, ...]:
        return self.spec.latent_dims

    def _member(self, beta: float, latent_dim: int) -> int:
        try:
            return self._index[(beta, latent_dim)]
        except KeyError:
            raise ValueError(
                f"No model for beta={beta}, latent_dim={latent_dim} in the bank; "
                f"betas: {self.betas}, latent dims: {self.latent_dims}."
            ) from None

    def entry(self, beta: float, latent_dim: int) -> BankEntry:
        """The precomputed views and test metrics of one member."""
        i, p, m = self._member(beta, latent_dim), self.payload, self.payload["metrics"]
        return BankEntry(
            beta, latent_dim, p["recon"][i], p["samples"][i], float(m["neg_elbo"][i]),
            float(m["recon"][i]), float(m["kl"][i]), m["kl_per_dim"][i, :latent_dim],
            m["mu_var"][i, :latent_dim], int((m["mu_var"][i, :latent_dim] > ACTIVE_THRESHOLD).sum()),
        )

    def model(self, beta: float, latent_dim: int) -> VAE:
        """Member (beta, latent_dim) as a standalone `VAE` on the CPU, in eval mode."""
        stacked = _stacked_from_spec(self.spec, tuple(self.x_show.shape[1:]))
        stacked.load_state_dict(self.payload["state_dict"])
        return stacked.export(self._member(beta, latent_dim))


def _stacked_from_spec(spec: BankSpec, input_shape: tuple[int, ...]) -> StackedVAE:
    dims = [d for _, d in spec.grid()]
    return StackedVAE(input_shape, dims, spec.hidden)


def bank_path(spec: BankSpec, root: str | Path | None = None) -> Path:
    """Where the bank for `spec` is cached: <data root>/bank/<dataset>-<hash>.pt."""
    return data_root(root) / "bank" / f"{spec.dataset}-{spec.key()}.pt"


_LOADED: dict[Path, ModelBank] = {}


def load_bank(
    spec: BankSpec = BankSpec(), *, root: str | Path | None = None, device: str | None = None,
    progress: bool = True,
) -> ModelBank:
    """The bank for `spec`: from memory, else from the disk cache, else trained now (and saved)."""
    path = bank_path(spec, root)
    if path not in _LOADED:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _build_lock(path):  # a second kernel waits for the first build instead of repeating it
            if not path.exists():
                payload = build_payload(spec, root=root, device=device, progress=progress)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                torch.save(payload, tmp)
                os.replace(tmp, path)  # atomic: nobody reads half a file
        payload = torch.load(path, map_location="cpu", weights_only=True)
        _LOADED[path] = ModelBank(spec, payload, path)
    return _LOADED[path]


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on <path>.lock where the OS offers one (POSIX); a no-op elsewhere."""
    try:
        import fcntl
    except ImportError:  # Windows: concurrent first builds just both train
        yield
        return
    with open(path.with_suffix(".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_payload(
    spec: BankSpec, *, root: str | Path | None = None, device: str | None = None, progress: bool = True,
    num_threads: int | str | None = "auto",
) -> dict:
    """Train the whole grid and precompute every view; returns plain tensors and numbers.

    num_threads: torch CPU threads for the build ("auto": one per idle core, see
    `runtime.auto_threads`; ignored on a GPU).
    """
    start = time.perf_counter()
    train, test = load_dataset(spec.dataset, "train", root=root), load_dataset(spec.dataset, "test", root=root)
    dev = runtime_device(device)
    torch.manual_seed(spec.seed)
    stacked = _stacked_from_spec(spec, tuple(train.images.shape[1:])).to(dev)
    betas = [b for b, _ in spec.grid()]
    # Threads matter on a small CPU: measured on 2 cores, two threads build the bank about 2x
    # faster than one on an idle machine, and about 2x slower when another process is busy.
    with torch_threads(num_threads if dev.type == "cpu" else None):
        threads = torch.get_num_threads()
        history = train_stacked(
            stacked, train.images, betas, epochs=spec.epochs, batch_size=spec.batch_size,
            lr=spec.lr, seed=spec.seed, progress=progress,
        )
        payload = _precompute(stacked, test.images, test.labels, torch.tensor(betas, device=dev), spec.seed)
    payload.update(threads=threads if dev.type == "cpu" else 0,
        state_dict={k: v.cpu() for k, v in stacked.state_dict().items()},
        train_history=torch.tensor(history), build_seconds=time.perf_counter() - start,
        device=str(dev),
    )
    return payload


@torch.no_grad()
def _precompute(stacked: StackedVAE, x_test: Tensor, labels: Tensor, betas: Tensor, seed: int) -> dict:
    """Fixed show-images (one per class), reconstructions, prior samples and test metrics."""
    stacked.eval()
    dev = stacked.mask.device
    first = [int((labels == c).nonzero()[0]) for c in range(int(labels.max()) + 1)]
    x_show = x_test[first]
    mu, _ = stacked.encode(x_show.to(dev))
    gen = torch.Generator().manual_seed(seed)
    z_prior = torch.randn(len(first), stacked.mask.shape[1], generator=gen).to(dev) * stacked.mask[:, None]
    shape = (len(betas), len(first), *x_show.shape[1:])
    recon = torch.sigmoid(stacked.decode_logits(mu)).view(shape)
    samples = torch.sigmoid(stacked.decode_logits(z_prior)).view(shape)
    return {
        "x_show": x_show, "labels_show": labels[first], "recon": recon.cpu(),
        "samples": samples.cpu(), "metrics": _test_metrics(stacked, x_test, betas, seed),
    }


@torch.no_grad()
def _test_metrics(stacked: StackedVAE, x_test: Tensor, betas: Tensor, seed: int, batch: int = 500) -> dict:
    """Per member: neg. ELBO, recon, KL (nats per image), KL per dim, Var over x of mu per dim."""
    torch.manual_seed(seed)
    dev, n = stacked.mask.device, x_test.shape[0]
    sums = torch.zeros(3, len(betas), dtype=torch.float64)
    kl_dims = mu_sum = mu_sq = 0.0
    for xb in x_test.split(batch):
        xb = xb.to(dev)
        _, recon, kl = stacked_losses(stacked, xb, betas)
        mu, logvar = stacked.encode(xb)  # (M, b, K)
        sums[1:] += torch.stack((recon, kl)).double().cpu() * xb.shape[0]
        kl_dims = kl_dims + kl_divergence_per_dim(mu, logvar).sum(1).double().cpu()
        mu_sum = mu_sum + mu.sum(1).double().cpu()
        mu_sq = mu_sq + mu.pow(2).sum(1).double().cpu()
    sums[0] = sums[1] + sums[2]
    variance = (mu_sq - mu_sum.pow(2) / n) / (n - 1)
    return {
        "neg_elbo": sums[0] / n, "recon": sums[1] / n, "kl": sums[2] / n,
        "kl_per_dim": (kl_dims / n).float(), "mu_var": variance.float(),
    }


def _threads_note(payload: dict) -> str:
    threads = payload.get("threads", 0)  # banks built before this was recorded have none
    return f", {threads} thread{'s' if threads > 1 else ''}" if threads else ""


def _main(argv: list[str] | None = None) -> int:
    """`python -m vaecourse.bank [DATASET]`: build (or find) the default bank and report it."""
    import argparse

    parser = argparse.ArgumentParser(description="Build the model bank behind the course's sliders.")
    parser.add_argument("dataset", nargs="?", default="mnist", help="mnist (default) or fashion-mnist")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    bank = load_bank(BankSpec(dataset=args.dataset))
    print(f"model bank: {len(bank.spec.grid())} models at {bank.path} "
          f"(built in {bank.build_seconds:.0f} s on {bank.payload['device']}"
          f"{_threads_note(bank.payload)}; "
          f"this call took {time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
