import torch

from vaecourse.ensemble import StackedVAE, stacked_losses, train_stacked
from vaecourse.losses import vae_loss


def test_exported_members_compute_exactly_what_the_stack_computes():
    torch.manual_seed(0)
    stack = StackedVAE((1, 8, 8), [2, 5], hidden=16)
    x = torch.rand(7, 1, 8, 8)
    mu, logvar = stack.encode(x)  # (M, B, K)
    assert mu.shape == (2, 7, 5)
    assert torch.all(mu[0, :, 2:] == 0) and torch.all(logvar[0, :, 2:] == 0)  # masked dims
    for m, k in enumerate([2, 5]):
        vae = stack.export(m)
        assert vae.latent_dim == k
        mu_m, logvar_m = vae.encode(x)
        assert torch.allclose(mu_m, mu[m, :, :k], atol=1e-6)
        assert torch.allclose(logvar_m, logvar[m, :, :k], atol=1e-6)
        z = torch.randn(7, k)
        z_pad = torch.zeros(2, 7, 5)
        z_pad[m, :, :k] = z
        assert torch.allclose(vae.decode_logits(z).flatten(1), stack.decode_logits(z_pad)[m], atol=1e-5)


def test_stacked_losses_match_vae_loss_per_member():
    torch.manual_seed(0)
    stack = StackedVAE((1, 8, 8), [3, 3], hidden=16)
    x = torch.rand(5, 1, 8, 8)
    betas = torch.tensor([0.5, 2.0])
    torch.manual_seed(1)
    total, recon, kl = stacked_losses(stack, x, betas)
    torch.manual_seed(1)
    mu, logvar = stack.encode(x)
    logits = stack.decode_logits(stack.reparameterize(mu, logvar))
    for m in range(2):
        t, r, k = vae_loss(logits[m].view_as(x), x, mu[m], logvar[m], float(betas[m]), logits=True, reduction="batchmean")
        assert torch.allclose(torch.stack([t, r, k]), torch.stack([total[m], recon[m], kl[m]]), rtol=1e-5)


def test_training_lowers_every_members_loss_and_members_are_independent():
    from sklearn.datasets import load_digits

    x = torch.tensor(load_digits().images, dtype=torch.float32).unsqueeze(1) / 16
    torch.manual_seed(0)
    stack = StackedVAE((1, 8, 8), [2, 4], hidden=32)
    history = train_stacked(stack, x, [1.0, 1.0], epochs=4, batch_size=32, lr=3e-3, progress=False)
    assert all(last < first - 3 for first, last in zip(history[0], history[-1]))
    # a member's gradient depends only on its own parameters: zero one member's grads check
    stack.zero_grad()
    total, _, _ = stacked_losses(stack, x[:32], torch.tensor([1.0, 1.0]))
    total[0].backward()
    assert stack.dec2_w.grad[1].abs().sum() == 0 and stack.dec2_w.grad[0].abs().sum() > 0
