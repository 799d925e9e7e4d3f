"""Energy view of the classifier: E(V, l) are negated logits.

Free energy F(V) = -log sum_l exp(-E(V, l)) is high where the model has seen little data like V; the
uncertainty U(V) = |P(V,0) - P(V,1)| with P = softmax(-E) is *small* where the model hesitates.
"""
from __future__ import annotations

import numpy as np
import torch


def free_energy(energies: torch.Tensor) -> torch.Tensor:
    """F(V) for energies of shape (n, 2)."""
    return -torch.logsumexp(-energies, dim=1)


def probabilities(energies: torch.Tensor) -> torch.Tensor:
    return torch.softmax(-energies, dim=1)


def uncertainty(energies: torch.Tensor) -> torch.Tensor:
    p = probabilities(energies)
    return (p[:, 0] - p[:, 1]).abs()


def free_energy_np(energies: np.ndarray) -> np.ndarray:
    neg = -np.asarray(energies, dtype=np.float64)
    top = neg.max(axis=1)
    return -(top + np.log(np.exp(neg - top[:, None]).sum(axis=1)))


def uncertainty_np(energies: np.ndarray) -> np.ndarray:
    neg = -np.asarray(energies, dtype=np.float64)
    p = np.exp(neg - neg.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return np.abs(p[:, 0] - p[:, 1])


def alignment_loss(target_free_energy: torch.Tensor, source_mean: torch.Tensor) -> torch.Tensor:
    """EADA's free-energy alignment: pull target windows whose F exceeds the source's mean back toward it."""
    return torch.relu(target_free_energy - source_mean).mean()
