import math

import numpy as np
import pytest
import torch

from ml.energy import alignment_loss, free_energy, free_energy_np, uncertainty, uncertainty_np
from ml.sampling import first_of_each, medoids, select


def test_free_energy_and_uncertainty_by_hand():
    e = np.array([[1.0, 2.0], [0.0, 0.0], [3.0, -1.0]])
    expected_f = [-math.log(math.exp(-1) + math.exp(-2)), -math.log(2.0), -math.log(math.exp(-3) + math.exp(1))]
    p1 = [math.exp(-2) / (math.exp(-1) + math.exp(-2)), 0.5, math.exp(1) / (math.exp(-3) + math.exp(1))]
    expected_u = [abs(1 - 2 * p) for p in p1]
    assert np.allclose(free_energy_np(e), expected_f)
    assert np.allclose(uncertainty_np(e), expected_u)
    assert np.allclose(free_energy(torch.tensor(e)).numpy(), expected_f)
    assert np.allclose(uncertainty(torch.tensor(e)).numpy(), expected_u)


def test_alignment_only_pulls_down_high_energies():
    loss = alignment_loss(torch.tensor([1.0, 3.0, -5.0]), torch.tensor(2.0))
    assert loss.item() == pytest.approx(1.0 / 3.0)


def test_algorithm1_takes_top_energy_share_then_smallest_margin():
    # 20 windows: energies 0..19; the top 10% (lambda1) by energy are 19 and 18 ... with budget 2 -> V1 = {19, 18}
    f = np.arange(20, dtype=float)
    u = np.linspace(1, 0, 20)
    u[5] = 0.0  # very uncertain but low energy: must not be chosen
    u[18], u[19] = 0.2, 0.3
    picked = select(f, u, 1, lambda1=0.1)
    assert picked.tolist() == [18]
    assert sorted(select(f, u, 2, lambda1=0.1).tolist()) == [18, 19]
    assert select(f, u, 4, lambda1=0.5).tolist()[0] in range(10, 20)


def test_variants():
    f = np.array([5.0, 1.0, 3.0, 4.0])
    u = np.array([0.9, 0.1, 0.5, 0.2])
    assert select(f, u, 2, strategy="energy").tolist() == [0, 3]
    assert select(f, u, 2, strategy="uncertainty").tolist() == [1, 3]
    r = select(f, u, 3, strategy="random", seed=1)
    assert len(set(r.tolist())) == 3
    assert select(f, u, 3, strategy="random", seed=1).tolist() == r.tolist()
    with pytest.raises(ValueError):
        select(f, u, 1, strategy="magic")


def test_budget_larger_than_pool_and_zero():
    f = np.array([1.0, 2.0])
    assert sorted(select(f, f, 5).tolist()) == [0, 1]
    assert select(f, f, 0).size == 0


def test_identical_windows_are_picked_once():
    events = np.array([[1, 2], [1, 2], [3, 4], [5, 6]])
    assert first_of_each(events).tolist() == [0, 2, 3]
    f = np.array([9.0, 9.0, 1.0, 0.0])
    picked = select(f, np.zeros(4), 2, strategy="energy", events=events)
    assert picked.tolist() == [0, 2]


def test_coverage_share_goes_to_cluster_medoids():
    rng = np.random.default_rng(0)
    vectors = np.concatenate([rng.normal(0, 0.01, (30, 2)), rng.normal(5, 0.01, (10, 2))])
    f = np.zeros(40)
    f[35] = 10.0  # the only unfamiliar window
    picked = select(f, np.zeros(40), 3, strategy="energy", vectors=vectors, coverage=0.67)
    clusters = {int(i >= 30) for i in picked[:2]}
    assert clusters == {0, 1}  # one representative of each cluster
    assert 35 in picked.tolist()
    assert len(medoids(vectors, 2)) == 2
