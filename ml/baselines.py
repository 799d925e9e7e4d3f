"""Simple baselines the method must beat, given the same target labels (see DESIGN, "Honest comparison").

- event_count_lr: logistic regression on event-count vectors of randomly picked, labeled target windows;
- target_only: the LogAction network trained only on randomly picked target labels (no source);
- deeplog: an unsupervised next-event LSTM trained on normal target windows; a window is anomalous when
  one of its events is not among the model's top-g predictions (Du et al., CCS 2017).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ml.embedding import pick_device


def event_counts(events: np.ndarray, n_rows: int) -> np.ndarray:
    """(n, n_rows) counts of each table row per window, padding excluded."""
    x = np.zeros((len(events), n_rows), np.float32)
    np.add.at(x, (np.repeat(np.arange(len(events)), events.shape[1]), events.ravel()), 1.0)
    x[:, 0] = 0.0
    return x


def random_picks(n_pool: int, n_labels: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).choice(n_pool, size=min(n_labels, n_pool), replace=False)


def event_count_lr(pool_events: np.ndarray, pool_labels: np.ndarray, test_events: np.ndarray, n_rows: int,
                   n_labels: int, seed: int) -> np.ndarray:
    """Predictions on the test windows of a class-balanced logistic regression on ``n_labels`` random picks."""
    from sklearn.linear_model import LogisticRegression

    idx = random_picks(len(pool_events), n_labels, seed)
    y = pool_labels[idx]
    if len(np.unique(y)) < 2:  # one class bought: predicting it is all the labels support
        return np.full(len(test_events), y[0] if len(y) else 0, np.int8)
    model = LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)
    model.fit(event_counts(pool_events[idx], n_rows), y)
    return model.predict(event_counts(test_events, n_rows)).astype(np.int8)


class NextEventLSTM(nn.Module):
    def __init__(self, vocab: int, embed: int = 32, hidden: int = 64):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed, padding_idx=0)
        self.lstm = nn.LSTM(embed, hidden, num_layers=2, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, events: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.lstm(self.embed(events))
        return self.out(hidden)  # logits of the next event after each position


def deeplog(train_events: np.ndarray, test_events: np.ndarray, n_rows: int, *, top_g: int = 9, epochs: int = 10,
            seed: int = 0, device: str = "auto") -> np.ndarray:
    """Predictions on ``test_events`` of a next-event model trained on ``train_events`` (normal windows)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dev = pick_device(device)
    model = NextEventLSTM(n_rows).to(dev)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss(ignore_index=0)
    x_all = torch.as_tensor(train_events, dtype=torch.long)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(x_all))
        for start in range(0, len(x_all), 256):
            x = x_all[order[start:start + 256]].to(dev)
            logits = model(x[:, :-1])
            loss = loss_fn(logits.reshape(-1, n_rows), x[:, 1:].reshape(-1))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    model.eval()
    flagged = []
    with torch.inference_mode():
        for start in range(0, len(test_events), 2048):
            x = torch.as_tensor(test_events[start:start + 2048], dtype=torch.long, device=dev)
            top = model(x[:, :-1]).topk(min(top_g, n_rows), dim=-1).indices
            nxt = x[:, 1:]
            hit = (top == nxt.unsqueeze(-1)).any(-1) | (nxt == 0) | (x[:, :-1] == 0)
            flagged.append((~hit).any(1).cpu().numpy())
    return np.concatenate(flagged).astype(np.int8) if flagged else np.zeros(0, np.int8)
