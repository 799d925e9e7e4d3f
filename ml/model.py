"""The LogAction network: LSTM encoder p_theta, discriminator g_phi and energy classifier E."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class ModelConfig:
    """Network sizes. The paper uses hidden 512; 128 is the CPU default (about 8x faster, see DESIGN)."""

    hidden: int = 128
    layers: int = 2
    vector_dim: int = 128  # r, the log vector's size
    clf_hidden: int = 64


class LogActionNet(nn.Module):
    """Window of table rows -> log vector V -> energies E(V, 0), E(V, 1) (and discriminator logits)."""

    def __init__(self, table: np.ndarray, config: ModelConfig):
        super().__init__()
        self.config = config
        # The template vectors are fixed: fine-tuning must not drift a template's meaning.
        self.embed = nn.Embedding.from_pretrained(torch.as_tensor(table, dtype=torch.float32),
                                                  freeze=True, padding_idx=0)
        dim = table.shape[1]
        self.lstm = nn.LSTM(dim, config.hidden, num_layers=config.layers, batch_first=True)
        self.fc = nn.Linear(config.hidden, config.vector_dim)
        self.discriminator = nn.Linear(config.vector_dim, 2)
        self.classifier = nn.Sequential(
            nn.Linear(config.vector_dim, config.clf_hidden), nn.ReLU(), nn.Linear(config.clf_hidden, 2),
        )

    def encode(self, events: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embed(events))
        return torch.tanh(self.fc(out[:, -1]))

    def energies(self, vectors: torch.Tensor) -> torch.Tensor:
        # The classifier's outputs are logits; energies are their negation.
        return -self.classifier(vectors)

    def forward(self, events: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        vectors = self.encode(events)
        return vectors, self.energies(vectors), self.discriminator(vectors)
