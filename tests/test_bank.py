import pytest
import torch

from vaecourse.bank import BankSpec, bank_path, load_bank


def test_bank_holds_every_member_with_consistent_metrics(tiny_bank):
    assert len(tiny_bank.payload["recon"]) == len(tiny_bank.spec.grid()) == 9
    for beta, d in tiny_bank.spec.grid():
        e = tiny_bank.entry(beta, d)
        assert e.recon.shape == e.samples.shape == tiny_bank.x_show.shape
        assert 0 <= e.recon.min() and e.recon.max() <= 1
        assert e.kl_per_dim.shape == (d,)
        assert e.neg_elbo == pytest.approx(e.recon_nats + e.kl, rel=1e-6)
        assert e.kl_per_dim.sum().item() == pytest.approx(e.kl, rel=1e-4)
        assert e.mu_var.shape == (d,) and e.active_units == int((e.mu_var > 0.01).sum())


def test_show_images_are_one_per_class(tiny_bank):
    assert tiny_bank.labels_show.tolist() == list(range(10))


def test_larger_beta_buys_lower_rate(tiny_bank):
    kl = [tiny_bank.entry(b, 8).kl for b in tiny_bank.betas]
    assert kl[0] > kl[-1]  # β = 0.5 spends more nats on the code than β = 4


def test_exported_model_reproduces_the_stored_reconstructions(tiny_bank):
    model = tiny_bank.model(1.0, 4)
    with torch.no_grad():
        mu, _ = model.encode(tiny_bank.x_show)
        recon = model.decode(mu)
    assert torch.allclose(recon, tiny_bank.entry(1.0, 4).recon, atol=1e-5)


def test_unknown_member_message(tiny_bank):
    with pytest.raises(ValueError, match="No model for beta=3"):
        tiny_bank.entry(3.0, 4)


def test_bank_is_cached_on_disk_and_reloaded_without_training(tiny_bank, monkeypatch, tmp_path):
    import vaecourse.bank as bank_module

    path = tiny_bank.path
    assert path.exists() and path == bank_path(tiny_bank.spec, path.parents[1])
    bank_module._LOADED.clear()
    monkeypatch.setattr(bank_module, "build_payload", lambda *a, **k: pytest.fail("retrained"))
    again = load_bank(tiny_bank.spec, root=path.parents[1], progress=False)
    assert torch.equal(again.payload["recon"], tiny_bank.payload["recon"])


def test_spec_hash_changes_with_the_spec():
    assert BankSpec().key() != BankSpec(epochs=3).key()
    assert BankSpec().key() == BankSpec().key()


def test_concurrent_first_loads_build_only_once(tiny_bank, monkeypatch, tmp_path):
    import threading
    import time

    import vaecourse.bank as bank_module

    builds = []

    def slow_build(spec, **kwargs):
        builds.append(spec)
        time.sleep(0.5)  # long enough for the second caller to arrive while we hold the lock
        return tiny_bank.payload

    monkeypatch.setattr(bank_module, "build_payload", slow_build)
    spec = BankSpec(dataset="digits", betas=tiny_bank.betas, latent_dims=tiny_bank.latent_dims, hidden=64, epochs=3, batch_size=64)
    loaders = [threading.Thread(target=lambda: load_bank(spec, root=tmp_path, progress=False)) for _ in range(2)]
    bank_module._LOADED.clear()
    for t in loaders:
        t.start()
    for t in loaders:
        t.join()
    assert len(builds) == 1
