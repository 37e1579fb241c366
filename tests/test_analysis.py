import math

import pytest
import torch

from vaecourse.analysis import active_units, class_means, find_elbow, lerp, slerp


def test_lerp_endpoints_and_midpoint():
    z0, z1 = torch.tensor([0.0, 2.0]), torch.tensor([4.0, -2.0])
    path = lerp(z0, z1, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(path, torch.tensor([[0.0, 2.0], [2.0, 0.0], [4.0, -2.0]]))


def test_slerp_keeps_norm_on_a_circle_and_hits_endpoints():
    z0, z1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    path = slerp(z0, z1, torch.linspace(0, 1, 5))
    assert torch.allclose(path[0], z0, atol=1e-6) and torch.allclose(path[-1], z1, atol=1e-6)
    assert torch.allclose(path.norm(dim=1), torch.ones(5), atol=1e-6)
    assert torch.allclose(path[2], torch.tensor([math.sqrt(0.5)] * 2), atol=1e-6)
    # the straight line dips through the centre: its midpoint is shorter
    assert lerp(z0, z1, torch.tensor([0.5]))[0].norm() < 0.75


def test_slerp_of_parallel_vectors_falls_back_to_lerp():
    z0 = torch.tensor([1.0, 1.0])
    assert torch.allclose(slerp(z0, 3 * z0, torch.tensor([0.5])), torch.tensor([[2.0, 2.0]]))


def test_class_means_exact():
    z = torch.tensor([[1.0, 0.0], [3.0, 2.0], [10.0, 10.0]])
    labels = torch.tensor([0, 0, 2])
    means = class_means(z, labels, n_classes=3)
    assert torch.equal(means, torch.tensor([[2.0, 1.0], [0.0, 0.0], [10.0, 10.0]]))


def test_find_elbow_on_a_bent_curve():
    dims = [2, 4, 8, 16, 32, 64]
    assert find_elbow(dims, [100, 60, 30, 27, 26, 25.5]) == 8
    assert find_elbow(dims, [100, 40, 38, 37, 36, 35]) == 4
    with pytest.raises(ValueError, match="at least 3"):
        find_elbow([2, 4], [1.0, 0.5])


def test_active_units_counts_varying_dims():
    mu = torch.zeros(100, 3)
    mu[:, 0] = torch.linspace(-1, 1, 100)  # varies: active
    mu[:, 1] = 0.001 * torch.randn(100)  # barely varies: inactive
    assert active_units(mu) == 1
