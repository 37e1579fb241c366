"""The course's device rule, checked on a CPU-only machine with a pretend accelerator.

Rule (CONTRIBUTING.md, "Devices"): what a learner holds lives on the CPU — models after `fit`
included — and the package's public functions accept a model and tensors wherever they are and
return CPU results. On a GPU machine, code that breaks this fails with "Expected all tensors to be
on the same device"; `tests/fake_accelerator.py` makes the same code fail the same way here.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import Tensor

from fake_accelerator import ACCELERATOR, OnAccelerator, peak_bytes, pretend_accelerator
from vaecourse import analysis, plotting, plotting_latent, runtime
from vaecourse.bank import BankSpec, ModelBank, build_payload
from vaecourse.checkpoints import load_checkpoint, save_checkpoint
from vaecourse.config import TrainConfig
from vaecourse.models import VAE, Autoencoder, ConvVAE
from vaecourse.train import evaluate, fit, importance_weighted_nll

ROOT = Path(__file__).resolve().parents[1]
DIGITS = (1, 8, 8)
FAST = TrainConfig(epochs=1, batch_size=100, seed=0, num_threads=1)
T4_BYTES = 15 * 10**9


@pytest.fixture(scope="module")
def x() -> Tensor:
    """300 binarised 8x8 digits (N, 1, 8, 8) on the CPU."""
    images = torch.tensor(load_digits().images[:300], dtype=torch.float32) / 16.0
    return (images.unsqueeze(1) > 0.5).float()


@pytest.fixture
def accelerator():
    with pretend_accelerator() as device:
        yield device


def _on_cpu(*values) -> bool:
    return all(not isinstance(v, Tensor) or (v.device.type == "cpu" and not isinstance(v, OnAccelerator))
               for v in values)


def _vae(kind=VAE) -> torch.nn.Module:
    torch.manual_seed(0)
    return kind(DIGITS, 4, (32,)) if kind is not ConvVAE else ConvVAE(DIGITS, 4, (8, 16, 32))


# --- the guard itself can fail ------------------------------------------------------------------

def test_the_pretend_accelerator_catches_a_cpu_tensor_handed_to_an_accelerator_model(accelerator, x):
    model = _vae().to(accelerator)  # what fit did before the rule: the model stayed on the GPU
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        model.encode(x[:4])
    with pytest.raises(TypeError, match="numpy"):
        np.asarray(model.decode(torch.zeros(2, 4, device=accelerator)).detach())


def test_the_pretend_accelerator_computes_real_numbers(accelerator, x):
    model = _vae()
    expected = model.encode(x[:8])[0].detach()
    got = model.to(accelerator).encode(x[:8].to(accelerator))[0].detach().cpu()
    torch.testing.assert_close(got, expected)


# --- training and evaluation --------------------------------------------------------------------

@pytest.mark.parametrize("kind", [VAE, ConvVAE, Autoencoder])
def test_fit_trains_on_the_accelerator_and_leaves_the_model_on_the_cpu(accelerator, x, kind):
    model = _vae(kind) if kind is not Autoencoder else Autoencoder(DIGITS, latent_dim=4)
    peak_bytes(reset=True)
    history = fit(model, x, FAST, progress=False)
    assert peak_bytes() > 0  # it really trained on the accelerator
    assert runtime.model_device(model).type == "cpu"
    out = model.encode(x[:4])  # a learner's next cell, in the lessons' style
    assert _on_cpu(*(out if isinstance(out, tuple) else (out,)))
    assert len(history.epoch_total) == 1


def test_fit_gives_the_same_numbers_on_the_accelerator_as_on_the_cpu(x):
    cpu_model, acc_model = _vae(), _vae()
    on_cpu = fit(cpu_model, x, dataclasses.replace(FAST, device="cpu"), progress=False)
    with pretend_accelerator():
        on_acc = fit(acc_model, x, FAST, x_val=x[:50], progress=False)
    assert on_acc.epoch_total == pytest.approx(on_cpu.epoch_total, rel=1e-5)
    torch.testing.assert_close(acc_model.fc_mu.weight, cpu_model.fc_mu.weight, rtol=1e-4, atol=1e-5)


def test_a_model_the_learner_put_on_the_accelerator_stays_there(accelerator, x):
    model = _vae().to(accelerator)
    fit(model, x.to(accelerator), FAST, progress=False)
    assert runtime.model_device(model) == accelerator


@pytest.mark.parametrize("model_on, data_on", [("cpu", "meta"), ("meta", "cpu"), ("meta", "meta")])
def test_evaluation_accepts_models_and_data_anywhere_and_returns_cpu_numbers(accelerator, x, model_on, data_on):
    model = _vae().to(model_on)
    data = x[:64].to(data_on)
    result = evaluate(model, data, binarize=True)
    assert isinstance(result["neg_elbo"], float) and isinstance(result["kl_per_dim"], list)
    per_image = importance_weighted_nll(model, data, k=4, per_image=True)
    assert _on_cpu(per_image) and per_image.shape == (64,)
    assert runtime.model_device(model).type == model_on  # evaluation puts the model back


def test_evaluation_gives_the_same_numbers_on_the_accelerator(x):
    model = _vae()
    expected = evaluate(model, x, binarize=True, device="cpu")["neg_elbo"]
    with pretend_accelerator():
        assert evaluate(model, x, binarize=True)["neg_elbo"] == pytest.approx(expected, rel=1e-5)


# --- the bank, checkpoints, analysis ------------------------------------------------------------

def test_the_bank_builds_on_the_accelerator_and_hands_out_cpu_models(accelerator, x):
    spec = BankSpec(dataset="digits", betas=(1.0, 4.0), latent_dims=(2, 4), hidden=16, epochs=1, batch_size=256)
    payload = build_payload(spec, progress=False)
    assert payload["device"] == str(accelerator)
    tensors = [v for v in payload.values() if isinstance(v, Tensor)] + list(payload["state_dict"].values())
    assert _on_cpu(*tensors)
    bank = ModelBank(spec, payload)
    model = bank.model(4.0, 2)
    assert _on_cpu(model.decode(torch.zeros(3, 2)))


def test_checkpoints_save_accelerator_models_and_load_on_the_cpu(accelerator, tmp_path, x):
    model = _vae().to(accelerator)
    save_checkpoint(tmp_path / "m.pt", model)
    loaded = load_checkpoint(tmp_path / "m.pt")
    assert runtime.model_device(loaded.model).type == "cpu" and _on_cpu(*loaded.model.state_dict().values())


def test_analysis_functions_work_on_accelerator_tensors(accelerator):
    z = torch.randn(40, 3).to(accelerator)
    labels = (torch.arange(40) % 4).to(accelerator)
    assert analysis.class_means(z, labels).shape == (4, 3)
    alphas = torch.linspace(0, 1, 5)
    assert analysis.lerp(z[0], z[1], alphas).shape == (5, 3)
    assert analysis.slerp(z[0], z[1], alphas).shape == (5, 3)
    assert isinstance(analysis.active_units(z), int)
    assert analysis.find_elbow([1, 2, 4, 8], torch.tensor([9.0, 4.0, 3.0, 2.9]).to(accelerator)) in (1, 2, 4, 8)


# --- plotting ---------------------------------------------------------------------------------------

def test_plotting_accepts_accelerator_tensors_and_accelerator_models(accelerator, x):
    images = x[:8].to(accelerator)
    plotting.image_grid(images, nrow=4)
    plotting.reconstructions(images, images, n=4)
    torch.manual_seed(0)
    model = VAE(DIGITS, 2, (16,)).to(accelerator)
    plotting_latent.latent_manifold(model.decode, n=3)  # the package builds z on the CPU
    codes = torch.randn(30, 2).to(accelerator)
    plotting_latent.latent_scatter(codes, (torch.arange(30) % 3).to(accelerator))
    plotting_latent.interpolation_strip(images[:5], torch.linspace(0, 1, 5))
    plotting_latent.kl_per_dim_bar(torch.rand(4).to(accelerator))


def test_plotting_is_fine_with_cpu_models_while_the_accelerator_is_on(accelerator, x):
    torch.manual_seed(0)
    plotting_latent.latent_manifold(VAE(DIGITS, 2, (16,)).decode, n=3)


# --- memory -----------------------------------------------------------------------------------------

def test_importance_weighting_at_k_1000_fits_a_t4_many_times_over(accelerator):
    """Notebook 04's largest GPU job (k = 1000, batches of 16 images), measured: far below 15 GB."""
    torch.manual_seed(0)
    model = ConvVAE((1, 28, 28), 32, (32, 64, 128))
    x = (torch.rand(32, 1, 28, 28) > 0.5).float()
    peak_bytes(reset=True)
    importance_weighted_nll(model, x, k=1000)
    assert 0 < peak_bytes() < T4_BYTES / 10


# --- every notebook, run as a learner would, on the pretend accelerator ------------------------------

NOTEBOOKS = sorted(str(p.relative_to(ROOT)) for d in ("notebooks", "solutions", "exercises")
                   for p in (ROOT / d).glob("*.ipynb"))


@pytest.mark.accelerator
@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_runs_clean_on_the_pretend_accelerator(notebook):
    """A fresh kernel runs the notebook top to bottom with training and evaluation on the accelerator."""
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "run_on_accelerator.py"), notebook], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    report = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-2000:]
    assert done.returncode == 0, report
    peak_mib = float(report.split("accelerator peak ")[1].split(" MiB")[0])
    assert peak_mib * 2**20 < T4_BYTES, report
