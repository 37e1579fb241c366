"""Figures from vaecourse.plotting_latent: right axes, and the data drawn is the data given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from vaecourse.style import BLUE, CLASS_COLOURS, HIGHLIGHT  # noqa: E402
from vaecourse.plotting_latent import (  # noqa: E402
    error_vs_latent_dim,
    interpolation_strip,
    kl_per_dim_bar,
    latent_manifold,
    latent_scatter,
    latent_traversal,
    manifold_values,
    rate_distortion,
)


def latents(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    z = rng.normal(size=(n, d)) + labels[:, None]  # (N, D), classes apart
    return z.astype(np.float32), labels


def test_latent_scatter_draws_2d_latents_directly_coloured_by_label():
    z, labels = latents(200, 2)
    fig = latent_scatter(torch.tensor(z), torch.tensor(labels), class_names=[f"digit {i}" for i in range(10)])
    ax = fig.axes[0]
    cloud = ax.collections[0]
    np.testing.assert_allclose(cloud.get_offsets(), z)
    np.testing.assert_allclose(cloud.get_facecolors()[:, :3], [to_rgba(CLASS_COLOURS[c])[:3] for c in labels])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [f"digit {c}" for c in np.unique(labels)]
    assert "Direct" in ax.get_title() and "2-D" in ax.get_title()


def test_latent_scatter_pca_projects_to_two_columns():
    z, labels = latents(150, 6)
    cloud = latent_scatter(z, labels, method="pca").axes[0].collections[0]
    expected = PCA(n_components=2, random_state=0).fit_transform(z)
    assert cloud.get_offsets().shape == (150, 2)
    np.testing.assert_allclose(np.abs(cloud.get_offsets()), np.abs(expected), rtol=1e-4, atol=1e-4)


def test_latent_scatter_auto_uses_tsne_above_two_dimensions():
    z, labels = latents(120, 5)
    ax = latent_scatter(z, labels).axes[0]
    assert "t-SNE" in ax.get_title()
    assert ax.collections[0].get_offsets().shape == (120, 2)


def test_latent_scatter_subsamples_reproducibly():
    z, labels = latents(500, 2)
    offsets = latent_scatter(z, labels, max_points=100, seed=1).axes[0].collections[0].get_offsets()
    again = latent_scatter(z, labels, max_points=100, seed=1).axes[0].collections[0].get_offsets()
    other = latent_scatter(z, labels, max_points=100, seed=2).axes[0].collections[0].get_offsets()
    assert offsets.shape == (100, 2)
    np.testing.assert_array_equal(offsets, again)
    assert not np.array_equal(offsets, other)
    assert all((z == row).all(axis=1).any() for row in np.asarray(offsets))  # real points, not made up


def test_latent_scatter_uses_a_colorbar_for_many_classes():
    z = np.random.default_rng(0).normal(size=(50, 2))
    assert len(latent_scatter(z, np.arange(50)).axes) == 2


@pytest.mark.parametrize(
    "z, labels, method, match",
    [
        (np.zeros((10, 2)), np.zeros(9), "auto", "labels"),
        (np.zeros((10, 3)), np.zeros(10), "direct", "D = 2"),
        (np.zeros((10, 2)), np.zeros(10), "umap", "Unknown method"),
        (np.zeros(10), np.zeros(10), "auto", "dimension"),
    ],
)
def test_latent_scatter_rejects_bad_input(z, labels, method, match):
    with pytest.raises(ValueError, match=match):
        latent_scatter(z, labels, method=method)


def test_manifold_values_are_even_normal_quantiles_or_evenly_spaced():
    normal = torch.distributions.Normal(0.0, 1.0)
    values = manifold_values(9, z_range=2.0)
    np.testing.assert_allclose(values[[0, -1]], [-2.0, 2.0], atol=1e-5)
    steps = normal.cdf(values).diff()
    np.testing.assert_allclose(steps, steps[0].expand_as(steps), atol=1e-6)
    np.testing.assert_allclose(manifold_values(5, 1.0, use_normal_quantiles=False), [-1, -0.5, 0, 0.5, 1])


def test_latent_manifold_puts_z1_left_to_right_and_z2_bottom_to_top():
    n, seen = 5, []

    def decode_fn(z: torch.Tensor) -> torch.Tensor:  # (M, 2) -> (M, 1, 4, 4): pixel 0 = z₁, pixel 1 = z₂
        seen.append(z.shape)
        images = torch.zeros(z.shape[0], 1, 4, 4)
        images[:, 0, 0, 0], images[:, 0, 0, 1] = (z[:, 0] + 1) / 2, (z[:, 1] + 1) / 2
        return images

    ax = latent_manifold(decode_fn, n=n, z_range=1.0, use_normal_quantiles=False).axes[0]
    pixels = ax.images[0].get_array()  # (n·4, n·4), no padding
    assert seen == [torch.Size([n * n, 2])]
    np.testing.assert_allclose(pixels[0, 0::4], np.linspace(0, 1, n), atol=1e-6)  # z₁ grows to the right
    np.testing.assert_allclose(pixels[0::4, 1], np.linspace(1, 0, n), atol=1e-6)  # z₂ grows upwards
    assert ax.get_xticklabels()[0].get_text() == "-1.0"
    assert ax.get_yticklabels()[0].get_text() == "1.0"


def test_latent_manifold_rejects_a_decoder_returning_the_wrong_count():
    with pytest.raises(ValueError, match="decode_fn"):
        latent_manifold(lambda z: torch.zeros(3, 1, 4, 4), n=4)


def test_interpolation_strip_labels_each_image_by_alpha():
    images = torch.rand(5, 1, 6, 6)
    ax = interpolation_strip(images).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "0.25", "0.5", "0.75", "1"]
    np.testing.assert_allclose(ax.images[0].get_array(), make_grid(images, nrow=5, pad_value=1.0)[0])
    with pytest.raises(ValueError, match="alphas"):
        interpolation_strip(images, alphas=[0.0, 1.0])


def test_latent_traversal_rows_are_dimensions_and_columns_values():
    images, values = torch.rand(3 * 4, 1, 6, 6), torch.linspace(-2, 2, 4)
    ax = latent_traversal(images, values, n_dims=3, dims=[4, 0, 7]).axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), make_grid(images, nrow=4, pad_value=1.0)[0])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["$z_{4}$", "$z_{0}$", "$z_{7}$"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["-2", "-0.67", "0.67", "2"]
    with pytest.raises(ValueError, match="n_dims"):
        latent_traversal(images, values, n_dims=2)


def test_rate_distortion_draws_every_beta_and_highlights_the_chosen_one():
    points = {1.0: (25.0, 86.0), 4.0: (7.0, 125.0), 0.5: {"kl": 35.0, "recon": 80.0}}
    ax = rate_distortion(points, highlight=1.0).axes[0]
    curve = ax.lines[0]
    np.testing.assert_allclose(curve.get_xdata(), [7.0, 25.0, 35.0])  # sorted by rate
    np.testing.assert_allclose(curve.get_ydata(), [125.0, 86.0, 80.0])
    assert sorted(t.get_text() for t in ax.texts) == ["β=0.5", "β=1", "β=4"]
    ring = [line for line in ax.lines if line.get_markeredgecolor() == HIGHLIGHT]
    assert [(line.get_xdata()[0], line.get_ydata()[0]) for line in ring] == [(25.0, 86.0)]
    with pytest.raises(ValueError, match="highlight"):
        rate_distortion(points, highlight=2.0)


def test_kl_per_dim_bar_keeps_dimension_order_and_colours_active_units():
    kl = torch.tensor([0.5, 0.001, 2.0, 0.0])
    ax = kl_per_dim_bar(kl, threshold=0.01).axes[0]
    np.testing.assert_allclose([bar.get_height() for bar in ax.patches], kl.numpy())
    active = [bar.get_facecolor() == to_rgba(BLUE) for bar in ax.patches]
    assert active == [True, False, True, False]
    assert ax.get_xlabel() == "latent dimension"
    assert "2 of 4" in ax.get_title()
    batch = kl_per_dim_bar(kl.expand(3, 4)).axes[0]  # (N, D) is averaged over N
    np.testing.assert_allclose([bar.get_height() for bar in batch.patches], kl.numpy())
    with pytest.raises(ValueError, match="kl_per_dim"):
        kl_per_dim_bar(torch.zeros(2, 3, 4))


def test_error_vs_latent_dim_uses_a_log2_axis_and_marks_the_elbow():
    dims, errors = [2, 4, 8, 16, 32], [0.05, 0.03, 0.02, 0.015, 0.014]
    ax = error_vs_latent_dim(dims, errors, elbow=8).axes[0]
    assert ax.get_xscale() == "log"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), errors)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "4", "8", "16", "32"]
    ring = [line for line in ax.lines if line.get_markeredgecolor() == HIGHLIGHT]
    assert [(line.get_xdata()[0], line.get_ydata()[0]) for line in ring] == [(8, 0.02)]
    with pytest.raises(ValueError, match="elbow"):
        error_vs_latent_dim(dims, errors, elbow=64)
    with pytest.raises(ValueError, match="errors"):
        error_vs_latent_dim(dims, errors[:3])


def test_kl_per_dim_bar_default_threshold_is_the_courses_informative_nats():
    from vaecourse.analysis import INFORMATIVE_NATS

    ax = kl_per_dim_bar(torch.tensor([0.05, 0.2, 0.5])).axes[0]
    assert INFORMATIVE_NATS == 0.1 and "2 of 3 carry > 0.1 nats" in ax.get_title()


def test_figures_take_tensors_that_need_grad_and_decoders_on_another_device():
    """The device rule: inputs are detached and brought to the CPU; z goes to the decoder's device."""
    from vaecourse.plotting_latent import decode_on_its_device

    class Decoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1, device="meta"))  # a device other than the CPU
            self.seen = []

        def decode(self, z):
            self.seen.append(z.device)
            return torch.zeros(len(z), 1, 4, 4)

    model = Decoder()
    images = decode_on_its_device(model.decode, torch.zeros(3, 2))
    assert model.seen == [torch.device("meta")] and images.device == torch.device("cpu")
    latent_manifold(model.decode, n=3)
    assert model.seen[-1] == torch.device("meta")
    kl = torch.rand(5, requires_grad=True)
    assert kl_per_dim_bar(kl * 2).axes[0].patches[0].get_height() == pytest.approx(2 * kl[0].item())
