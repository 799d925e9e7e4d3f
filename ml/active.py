"""The active domain adaptation loop: score the pool, select, ask the oracle, fine-tune; repeat.

The oracle is a callback: ground truth in experiments, people in the app.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ml.sampling import select
from ml.training import ModelBundle, TrainConfig, fine_tune, score, train_base

Oracle = Callable[[np.ndarray], np.ndarray]  # pool indexes -> labels 0/1 (-1 = the oracle could not say)
Progress = Callable[[str, float], None]


@dataclass
class RoundResult:
    round: int
    selected: int
    anomalies_found: int
    labels_total: int
    bundle: ModelBundle = field(repr=False)


@dataclass
class LoopState:
    """Pool indexes labeled so far and their labels, in the order they were bought."""

    labeled: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)

    def unlabeled(self, n_pool: int) -> np.ndarray:
        mask = np.ones(n_pool, bool)
        mask[self.labeled] = False
        return np.flatnonzero(mask)


def per_round_budget(n_pool: int, budget: float, rounds: int) -> list[int]:
    """Label counts per round so that the total is round(budget * n_pool)."""
    total = int(round(budget * n_pool))
    if rounds < 1 or total == 0:
        return []
    base, extra = divmod(total, rounds)
    return [base + (1 if r < extra else 0) for r in range(rounds)]


def run_rounds(bundle: ModelBundle | None, *, source: tuple[np.ndarray, np.ndarray], pool: np.ndarray,
               oracle: Oracle, budgets: list[int], strategy: str = "logaction", lambda1: float = 0.1,
               coverage: float = 0.0, train_config: TrainConfig | None = None, table: np.ndarray | None = None,
               model_config=None, progress: Progress | None = None) -> tuple[ModelBundle | None, LoopState, list[RoundResult]]:
    """Runs the rounds from ``bundle`` (None = no transfer: start from an untrained network over ``table``).

    :param source: (events, labels) of the source systems; empty arrays when there is no transfer
    :param pool: (n, L) unlabeled target windows to select from
    """
    config = train_config or TrainConfig()
    state, history = LoopState(), []
    current = bundle
    for r, k in enumerate(budgets, start=1):
        candidates = state.unlabeled(len(pool))
        picked = _pick(current, pool[candidates], k, strategy, lambda1, config.seed + r, coverage)
        chosen = candidates[picked]
        answers = np.asarray(oracle(chosen), dtype=np.int8)
        known = answers >= 0
        state.labeled.extend(int(i) for i in chosen[known])
        state.labels.extend(int(a) for a in answers[known])
        current = _update(current, source, pool, state, config, table, model_config, progress)
        history.append(RoundResult(r, int(known.sum()), int((answers == 1).sum()), len(state.labels), current))
    return current, state, history


def _pick(bundle: ModelBundle | None, candidates: np.ndarray, k: int, strategy: str, lambda1: float,
          seed: int, coverage: float) -> np.ndarray:
    if bundle is None or strategy == "random":
        # With no model yet there is nothing to rank by: the first picks are random.
        return select(np.zeros(len(candidates)), np.zeros(len(candidates)), k, strategy="random", seed=seed)
    scores = score(bundle, candidates)
    return select(scores.free_energy, scores.uncertainty, k, lambda1=lambda1, strategy=strategy, seed=seed,
                  vectors=scores.vectors, events=candidates, coverage=coverage)


def _update(current: ModelBundle | None, source, pool: np.ndarray, state: LoopState, config: TrainConfig,
            table, model_config, progress) -> ModelBundle | None:
    idx = np.asarray(state.labeled, dtype=np.int64)
    labels = np.asarray(state.labels, dtype=np.int8)
    unlabeled = pool[state.unlabeled(len(pool))]
    if current is not None and len(source[1]) == 0:
        # No transfer: the bought labels are the labeled set itself.
        return fine_tune(current, pool[idx], labels, pool[idx][:0], labels[:0], unlabeled, config, progress)
    if current is not None:
        return fine_tune(current, source[0], source[1], pool[idx], labels, unlabeled, config, progress)
    if len(np.unique(labels)) < 2:
        return None  # nothing to learn a boundary from yet
    # No transfer: the bought target labels are the only labeled data.
    return train_base(table, pool[idx], labels, unlabeled, model_config, config, progress)
