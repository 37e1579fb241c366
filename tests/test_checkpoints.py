import pickle

import pytest
import torch

from vaecourse.checkpoints import load_checkpoint, save_checkpoint
from vaecourse.config import BetaSchedule, LossConfig, TrainConfig
from vaecourse.models import Autoencoder, ConvVAE, GaussianVAE, VAE
from vaecourse.train import History


@pytest.mark.parametrize("make", [
    lambda: VAE((1, 8, 8), 3, (16,)), lambda: Autoencoder((1, 8, 8), 2, (16, 8)),
    lambda: ConvVAE((1, 8, 8), 2, (4, 8, 16)), lambda: GaussianVAE((1, 8, 8), 2, (16,), learn_variance="pixel"),
])
def test_round_trip_rebuilds_the_same_function(tmp_path, make):
    torch.manual_seed(0)
    model = make().eval()
    with torch.no_grad():
        next(model.parameters()).add_(0.5)  # weights that differ from a fresh init
    path = save_checkpoint(tmp_path / "m.pt", model)
    loaded = load_checkpoint(path).model
    assert type(loaded) is type(model) and loaded.config == model.config
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        if hasattr(model, "decode_logits"):
            assert torch.equal(model.encode(x)[0], loaded.encode(x)[0])
            assert torch.equal(model.decode(model.encode(x)[0]), loaded.decode(loaded.encode(x)[0]))
        else:
            assert torch.equal(model(x)[0], loaded(x)[0])


def test_configs_and_history_come_back(tmp_path):
    loss = LossConfig("bce", BetaSchedule("linear", 4.0, warmup_steps=100), free_bits=0.5)
    train = TrainConfig(epochs=3, lr=2e-3, seed=7)
    history = History(epoch_total=[3.0, 2.0], epoch_kl_per_dim=[[0.1, 0.2]], n_train=10)
    path = save_checkpoint(tmp_path / "run" / "m.pt", VAE(latent_dim=4), train_config=train,
                           loss_config=loss, history=history)
    ckpt = load_checkpoint(path)
    assert ckpt.loss_config == loss and ckpt.train_config == train
    assert ckpt.history.epoch_total == [3.0, 2.0] and ckpt.history.n_train == 10
    assert not ckpt.model.training and ckpt.vaecourse_version


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "vaecourse-checkpoint-1", "x": Evil()}, path)
    with pytest.raises(ValueError, match="loads safely"):
        load_checkpoint(path)


@pytest.mark.parametrize("content", [b"not a checkpoint at all", b""])
def test_garbage_files_get_a_clear_message(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="bad.pt"):
        load_checkpoint(path)


def test_a_torch_file_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), path)
    with pytest.raises(ValueError, match="not a vaecourse checkpoint"):
        load_checkpoint(path)
