"""Choosing the windows worth a human's time (Algorithm 1 of the paper) and the ablation variants.

Algorithm 1 alone trusts the transferred model's energies. Under a large domain shift the source model is
confidently wrong on the *typical* target windows, which then never look uncertain or unfamiliar, and a
pure Algorithm 1 run spends its budget on oddities (see DESIGN, "Honest comparison"). Two guards keep the
method from collapsing: a ``coverage`` share of each round goes to representative windows (the medoids of
k-means clusters of the log vectors), and no two picks have the same event sequence.
"""
from __future__ import annotations

import numpy as np

STRATEGIES = ("logaction", "random", "energy", "uncertainty")
DEFAULT_COVERAGE = 0.5  # measured on BGL -> Thunderbird, see benchmarks/transfer_vs_baselines.py


def select(free_energy: np.ndarray, uncertainty: np.ndarray, budget: int, *, lambda1: float = 0.1,
           strategy: str = "logaction", seed: int = 0, vectors: np.ndarray | None = None,
           events: np.ndarray | None = None, coverage: float = 0.0) -> np.ndarray:
    """Indexes (into the given arrays) of the windows to label, best first.

    logaction: V1 = the ``lambda1`` share of the pool with the highest free energy (at least ``budget``
    windows); V2 = the windows of V1 with the smallest uncertainty margin. energy: the highest free energy.
    uncertainty: the smallest margin. random: uniform picks.

    :param free_energy: F(V) of each unlabeled, unclaimed window
    :param uncertainty: U(V) = |P0 - P1| of the same windows (small = uncertain)
    :param budget: how many windows to pick
    :param vectors: log vectors of the windows, needed when ``coverage`` > 0
    :param events: the windows' event rows; when given, windows with the same sequence are picked once
    :param coverage: share of the budget given to representative windows (k-means medoids)
    """
    free_energy = np.asarray(free_energy, dtype=np.float64)
    uncertainty = np.asarray(uncertainty, dtype=np.float64)
    if free_energy.shape != uncertainty.shape:
        raise ValueError("free energy and uncertainty must have one value per window")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    n = len(free_energy)
    budget = max(0, min(int(budget), n))
    if budget == 0:
        return np.zeros(0, np.int64)
    if strategy == "random":
        return np.random.default_rng(seed).choice(n, size=budget, replace=False).astype(np.int64)
    keep = first_of_each(events) if events is not None else np.arange(n)
    n_cover = int(round(coverage * budget)) if vectors is not None else 0
    covered = medoids(vectors[keep], n_cover, seed) if n_cover else np.zeros(0, np.int64)
    picked = list(keep[covered])
    rest = np.setdiff1d(keep, picked)
    k = min(budget - len(picked), len(rest))
    if strategy == "energy":
        picked += list(_top(-free_energy[rest], rest, k))
    elif strategy == "uncertainty":
        picked += list(_top(uncertainty[rest], rest, k))
    else:
        n_first = min(len(rest), max(k, int(np.ceil(lambda1 * len(rest)))))
        first = _top(-free_energy[rest], rest, n_first)
        picked += list(_top(uncertainty[first], first, k))
    return np.asarray(picked, dtype=np.int64)


def _top(key: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """The k ids with the smallest key; ties broken by id so the result is deterministic."""
    order = np.lexsort((ids, key))
    return ids[order[:k]].astype(np.int64)


def first_of_each(events: np.ndarray) -> np.ndarray:
    """Index of the first window of each distinct event sequence."""
    _, first = np.unique(np.ascontiguousarray(events), axis=0, return_index=True)
    return np.sort(first)


def medoids(vectors: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Indexes of the windows nearest to the centres of k clusters of ``vectors`` (distinct, sorted by cluster size)."""
    from sklearn.cluster import KMeans

    k = min(k, len(vectors))
    if k <= 0:
        return np.zeros(0, np.int64)
    # Centres from a sample are as good for picking representatives, and k-means on a 20k pool costs
    # most of a round's selection time otherwise.
    rng = np.random.default_rng(seed)
    sample = vectors if len(vectors) <= 4000 else vectors[rng.choice(len(vectors), 4000, replace=False)]
    km = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(sample)
    dist = km.transform(vectors)
    labels = dist.argmin(axis=1)
    chosen: list[int] = []
    for c in np.argsort(-np.bincount(labels, minlength=k), kind="stable"):
        for i in np.argsort(dist[:, c], kind="stable"):
            if i not in chosen:
                chosen.append(int(i))
                break
    return np.asarray(chosen, dtype=np.int64)
