"""Training the LogAction network: base model on source labels, fine-tuning on source + bought target labels.

Loss per step = class-balanced cross-entropy of the energy classifier
              + the discriminator's cross-entropy on class (normal / anomalous, from both systems)
              + align_weight * free-energy alignment of unlabeled target windows to the source's mean.
Target labels are few, so they are mixed into every batch (sampled with replacement) rather than
weighted up, which keeps each step's gradient scale stable.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from ml.embedding import pick_device
from ml.energy import alignment_loss, free_energy, probabilities
from ml.model import LogActionNet, ModelConfig

Progress = Callable[[str, float], None]


@dataclass
class TrainConfig:
    epochs: int = 8  # base training passes over the source windows
    finetune_steps: int = 60  # optimiser steps per fine-tuning round, whatever the source's size
    lr: float = 1e-3
    finetune_lr: float = 1e-3
    batch_size: int = 512
    align_weight: float = 0.01
    disc_weight: float = 1.0
    target_share: float = 0.5  # share of each fine-tuning batch drawn from the target's labels
    min_steps: int = 60  # optimiser steps per training at least, however few the labeled windows
    seed: int = 0
    device: str = "auto"


@dataclass
class ModelBundle:
    """A trained model with everything needed to score: weights, template table and settings."""

    state: dict[str, torch.Tensor]
    table: np.ndarray
    model_config: ModelConfig
    threshold: float = 0.5
    source_free_energy: float = 0.0
    meta: dict = field(default_factory=dict)
    _net: LogActionNet | None = field(default=None, repr=False, compare=False)

    def net(self, device: str = "auto") -> LogActionNet:
        dev = pick_device(device)
        if self._net is None or next(self._net.parameters()).device.type != dev:
            net = LogActionNet(self.table, self.model_config)
            net.load_state_dict(self.state)
            self._net = net.to(dev).eval()
        return self._net


@dataclass
class Scores:
    p_anomaly: np.ndarray
    free_energy: np.ndarray
    uncertainty: np.ndarray
    vectors: np.ndarray

    def predictions(self, threshold: float = 0.5) -> np.ndarray:
        return (self.p_anomaly >= threshold).astype(np.int8)


def class_weights(labels: np.ndarray) -> np.ndarray:
    """Per-sample weights giving each present class the same total weight."""
    weights = np.ones(len(labels), np.float32)
    classes = np.unique(labels)
    for c in classes:
        mask = labels == c
        weights[mask] = len(labels) / (len(classes) * mask.sum())
    return weights


def _seed_everything(seed: int) -> np.random.Generator:
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def _batches(n: int, batch_size: int, steps: int, rng: np.random.Generator):
    """``steps`` batches walking through shuffled passes over n items (tiny sets are passed over repeatedly)."""
    order = np.concatenate([rng.permutation(n) for _ in range(-(-steps * batch_size // n))])
    for step in range(steps):
        yield order[step * batch_size:(step + 1) * batch_size]


def _fit(net: LogActionNet, *, source: tuple[np.ndarray, np.ndarray], target: tuple[np.ndarray, np.ndarray] | None,
         unlabeled: np.ndarray | None, steps: int, lr: float, config: TrainConfig, rng: np.random.Generator,
         progress: Progress | None, stage: str) -> float:
    """Runs ``steps`` optimiser steps in place; returns the source windows' mean free energy at the end."""
    device = next(net.parameters()).device
    src_x = torch.as_tensor(source[0], dtype=torch.long)
    src_y = torch.as_tensor(source[1], dtype=torch.long)
    src_w = torch.as_tensor(class_weights(source[1]))
    has_target = target is not None and len(target[1]) > 0
    if has_target:
        tgt_x = torch.as_tensor(target[0], dtype=torch.long)
        tgt_y = torch.as_tensor(target[1], dtype=torch.long)
        tgt_w = torch.as_tensor(class_weights(target[1]))
    unl_x = torch.as_tensor(unlabeled, dtype=torch.long) if unlabeled is not None and len(unlabeled) else None
    optimiser = torch.optim.Adam((p for p in net.parameters() if p.requires_grad), lr=lr)
    ce = nn.CrossEntropyLoss(reduction="none")
    n_tgt = int(round(config.batch_size * config.target_share)) if has_target else 0
    n_src = max(config.batch_size - n_tgt, 1)
    n_src = min(n_src, len(src_y))
    step, src_mean = 0, torch.zeros((), device=device)
    net.train()
    for idx in _batches(len(src_y), n_src, steps, rng):
        x, y, w = src_x[idx], src_y[idx], src_w[idx]
        if n_tgt:
            t = torch.as_tensor(rng.integers(0, len(tgt_y), n_tgt))
            x, y, w = torch.cat([x, tgt_x[t]]), torch.cat([y, tgt_y[t]]), torch.cat([w, tgt_w[t]])
        x, y, w = x.to(device), y.to(device), w.to(device)
        vectors, energies, disc = net(x)
        loss = (w * ce(-energies, y)).sum() / w.sum()
        loss = loss + config.disc_weight * (w * ce(disc, y)).sum() / w.sum()
        src_mean = free_energy(energies[:len(idx)]).mean().detach()
        if unl_x is not None and config.align_weight > 0:
            # A quarter batch estimates the alignment term well enough at a quarter of its cost.
            u = torch.as_tensor(rng.integers(0, len(unl_x), min(max(len(idx) // 4, 1), len(unl_x))))
            _, unl_energies, _ = net(unl_x[u].to(device))
            loss = loss + config.align_weight * alignment_loss(free_energy(unl_energies), src_mean)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        optimiser.step()
        step += 1
        if progress and (step % 5 == 0 or step == steps):
            progress(stage, step / steps)
    net.eval()
    return float(src_mean)


def _bundle(net: LogActionNet, table: np.ndarray, model_config: ModelConfig, source_fe: float,
            meta: dict) -> ModelBundle:
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    return ModelBundle(state=state, table=table, model_config=model_config, source_free_energy=source_fe,
                       meta=meta)


def train_base(table: np.ndarray, source_events: np.ndarray, source_labels: np.ndarray,
               target_events: np.ndarray | None = None, model_config: ModelConfig | None = None,
               train_config: TrainConfig | None = None, progress: Progress | None = None) -> ModelBundle:
    """Model version 0: trained on the source's labeled windows, target windows used unlabeled for alignment.

    :param table: (V+1, dim) template vectors, row 0 = padding
    :param source_events: (n, L) table rows; ``source_labels`` (n,) 0/1
    :param target_events: (m, L) unlabeled target windows, or None
    """
    model_config = model_config or ModelConfig()
    config = train_config or TrainConfig()
    _check_labels(source_labels, "source")
    rng = _seed_everything(config.seed)
    net = LogActionNet(table, model_config).to(pick_device(config.device))
    batches = -(-len(source_labels) // min(config.batch_size, len(source_labels)))
    fe = _fit(net, source=(source_events, source_labels), target=None, unlabeled=target_events,
              steps=max(config.epochs * batches, config.min_steps), lr=config.lr, config=config, rng=rng,
              progress=progress, stage="train")
    return _bundle(net, table, model_config, fe, {"rounds": 0, "target_labels": 0})


def fine_tune(bundle: ModelBundle, source_events: np.ndarray, source_labels: np.ndarray,
              target_events: np.ndarray, target_labels: np.ndarray, target_unlabeled: np.ndarray | None = None,
              train_config: TrainConfig | None = None, progress: Progress | None = None) -> ModelBundle:
    """A new model continued from ``bundle`` on source labels + all target labels so far (``bundle`` is untouched)."""
    config = train_config or TrainConfig()
    _check_labels(target_labels, "target", allow_one_class=True)
    rng = _seed_everything(config.seed + 1000 * (bundle.meta.get("rounds", 0) + 1))
    net = LogActionNet(bundle.table, bundle.model_config)
    net.load_state_dict(bundle.state)
    net = net.to(pick_device(config.device))
    fe = _fit(net, source=(source_events, source_labels), target=(target_events, target_labels),
              unlabeled=target_unlabeled, steps=config.finetune_steps, lr=config.finetune_lr, config=config,
              rng=rng, progress=progress, stage=f"fine-tune round {bundle.meta.get('rounds', 0) + 1}")
    meta = dict(bundle.meta, rounds=bundle.meta.get("rounds", 0) + 1, target_labels=int(len(target_labels)))
    out = _bundle(net, bundle.table, bundle.model_config, fe, meta)
    out.threshold = bundle.threshold
    return out


def score(bundle: ModelBundle, events: np.ndarray, batch_size: int = 4096, device: str = "auto") -> Scores:
    """Anomaly probability, free energy, uncertainty and log vector of each window."""
    net = bundle.net(device)
    dev = next(net.parameters()).device
    stats, vecs = [], []
    with torch.inference_mode():
        for start in range(0, len(events), batch_size):
            x = torch.as_tensor(events[start:start + batch_size], dtype=torch.long, device=dev)
            vectors, energies, _ = net(x)
            p = probabilities(energies)[:, 1]
            # |P0 - P1| with P0 = 1 - P1
            stats.append(torch.stack([p, free_energy(energies), (1.0 - 2.0 * p).abs()], 1).cpu().numpy())
            vecs.append(vectors.cpu().numpy())
    if not stats:
        empty = np.zeros(0, np.float32)
        return Scores(empty, empty, empty, np.zeros((0, bundle.model_config.vector_dim), np.float32))
    table = np.concatenate(stats)
    return Scores(table[:, 0], table[:, 1], table[:, 2], np.concatenate(vecs))


def _check_labels(labels: np.ndarray, what: str, allow_one_class: bool = False) -> None:
    labels = np.asarray(labels)
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ValueError(f"{what} labels must be 0 or 1")
    if not allow_one_class and len(np.unique(labels)) < 2:
        raise ValueError(f"{what} windows need both normal and anomalous labels to train on")

