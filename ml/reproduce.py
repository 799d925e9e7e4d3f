"""The paper's evaluation on the public logs: six transfer pairs, label budgets, ablations and baselines.

For each pair and seed the base model is trained once; LogAction's budget curve (0.5 % per round, as in
RQ2), the ablations and the baselines all start from the same data, and the simulated oracle reveals the
ground truth of picked windows only. Test windows serve the figures and nothing else.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from ml.active import run_rounds
from ml.baselines import deeplog, event_count_lr, random_picks
from ml.evaluate import detection_metrics
from ml.experiment import ExperimentConfig, Prepared, prepare
from ml.model import ModelConfig
from ml.sampling import DEFAULT_COVERAGE
from ml.training import ModelBundle, TrainConfig, score, train_base

SYSTEMS = ("BGL", "Thunderbird", "Zookeeper")
PAIRS = tuple(itertools.permutations(SYSTEMS, 2))
STEP = 0.005  # label share bought per round
CURVE = (0.005, 0.01, 0.02, 0.05)
ABLATION_BUDGET = 0.02
# Table III of the paper: LogAction's F1 (%) at 2 % labels.
PAPER_F1 = {("Thunderbird", "BGL"): 96.03, ("Zookeeper", "BGL"): 97.46, ("BGL", "Zookeeper"): 80.66,
            ("BGL", "Thunderbird"): 92.09, ("Zookeeper", "Thunderbird"): 95.52,
            ("Thunderbird", "Zookeeper"): 96.27}
VARIANTS = ("logaction", "no_transfer", "random", "no_uncertainty", "no_energy", "target_only",
            "event_count_lr", "deeplog")
STRATEGY_OF = {"random": "random", "no_uncertainty": "energy", "no_energy": "uncertainty"}

Progress = Callable[[str, float], None]


@dataclass
class ReproduceConfig:
    data_dir: str | None = None
    seeds: int = 3
    quick: bool = False
    pairs: tuple[tuple[str, str], ...] = PAIRS
    hidden: int = 64
    epochs: int = 8
    finetune_steps: int = 60
    deeplog_epochs: int = 10
    device: str = "auto"
    cache_dir: str | None = None

    def effective(self) -> "ReproduceConfig":
        """--quick: one seed and short trainings, for CI-sized checks."""
        if not self.quick:
            return self
        return replace(self, seeds=1, epochs=2, finetune_steps=15, deeplog_epochs=2)


@dataclass
class PairOutcome:
    rows: list[dict]
    counts: dict
    energies: dict  # free energies for the histograms (seed 0)
    diagnostics: dict


def diagnostics(data: Prepared) -> dict:
    """Facts about the target's test part that bound what any method can reach (computed, never tuned on)."""
    seen = set(np.unique(data.pool.events).tolist())
    anomalous = data.test.events[data.test.labels == 1]

    def unseen_share(windows: np.ndarray) -> float:
        return float(np.mean([bool(set(w.tolist()) - seen - {0}) for w in windows])) if len(windows) else 0.0

    flag_all = detection_metrics(data.test.labels, np.ones(len(data.test), np.int8)).f1
    return {"test_anomalous": int(len(anomalous)),
            "unseen_share": unseen_share(anomalous),
            "unseen_share_normal": unseen_share(data.test.events[data.test.labels == 0]),
            "flag_all_f1": flag_all,
            "pool_anomalous": int((data.pool.labels == 1).sum())}


def rounds_for(n_pool: int, budget: float) -> list[int]:
    per_round = max(1, int(round(STEP * n_pool)))
    return [per_round] * int(round(budget / STEP))


def row(source: str, target: str, variant: str, budget: float, seed: int, metrics, labels: int,
        seconds: float) -> dict:
    return {"source": source, "target": target, "variant": variant, "budget": budget, "seed": seed,
            "f1": metrics.f1, "precision": metrics.precision, "recall": metrics.recall, "labels_used": labels,
            "seconds": round(seconds, 2)}


def _test_metrics(bundle: ModelBundle | None, data: Prepared):
    if bundle is None:
        return detection_metrics(data.test.labels, np.zeros(len(data.test), np.int8))
    return detection_metrics(data.test.labels, score(bundle, data.test.events).predictions(bundle.threshold))


def run_pair(source: str, target: str, config: ReproduceConfig, progress: Progress | None = None) -> PairOutcome:
    cfg = config.effective()
    data = prepare(ExperimentConfig(source, target, data_dir=cfg.data_dir, device=cfg.device,
                                    cache_dir=cfg.cache_dir), progress)
    model_config = ModelConfig(hidden=cfg.hidden)
    rows, energies = [], {}
    for seed in range(cfg.seeds):
        train_config = TrainConfig(epochs=cfg.epochs, finetune_steps=cfg.finetune_steps, seed=seed,
                                   device=cfg.device)
        rows += _run_seed(source, target, data, model_config, train_config, cfg, seed, energies, progress)
    return PairOutcome(rows, data.counts, energies, diagnostics(data))


def _run_seed(source, target, data: Prepared, model_config, train_config, cfg, seed, energies,
              progress) -> list[dict]:
    rows: list[dict] = []
    oracle = lambda idx: data.pool.labels[idx]  # noqa: E731 - reveals picked windows only
    src = (data.source.events, data.source.labels)
    started = time.perf_counter()
    base = train_base(data.table, *src, data.pool.events, model_config, train_config, progress)
    base_seconds = time.perf_counter() - started
    rows.append(row(source, target, "logaction", 0.0, seed, _test_metrics(base, data), 0, base_seconds))

    def active(budget: float, bundle, source_data, **kw):
        t0 = time.perf_counter()
        final, state, history = run_rounds(bundle, source=source_data, pool=data.pool.events, oracle=oracle,
                                           budgets=rounds_for(len(data.pool), budget), train_config=train_config,
                                           table=data.table, model_config=model_config, progress=progress, **kw)
        return final, state, history, time.perf_counter() - t0 + (base_seconds if bundle is not None else 0)

    _, _, history, seconds = active(max(CURVE), base, src, coverage=DEFAULT_COVERAGE)
    for h in history:
        budget = round(h.round * STEP, 4)
        if budget in CURVE:
            rows.append(row(source, target, "logaction", budget, seed, _test_metrics(h.bundle, data),
                            h.labels_total, seconds * h.round / len(history)))
    at_2 = next(h.bundle for h in history if round(h.round * STEP, 4) == ABLATION_BUDGET)
    if seed == 0:
        energies.update(_energies(base, at_2, data))
    n_labels = sum(rounds_for(len(data.pool), ABLATION_BUDGET))
    for variant, strategy in STRATEGY_OF.items():
        final, state, _, seconds = active(ABLATION_BUDGET, base, src, strategy=strategy,
                                          coverage=DEFAULT_COVERAGE)
        rows.append(row(source, target, variant, ABLATION_BUDGET, seed, _test_metrics(final, data),
                        len(state.labels), seconds))
    empty = (data.source.events[:0], data.source.labels[:0])
    final, state, _, seconds = active(ABLATION_BUDGET, None, empty, coverage=DEFAULT_COVERAGE)
    rows.append(row(source, target, "no_transfer", ABLATION_BUDGET, seed, _test_metrics(final, data),
                    len(state.labels), seconds))
    rows += _baselines(source, target, data, model_config, train_config, cfg, seed, n_labels)
    return rows


def _baselines(source, target, data: Prepared, model_config, train_config, cfg, seed, n_labels) -> list[dict]:
    rows = []
    t0 = time.perf_counter()
    idx = random_picks(len(data.pool), n_labels, seed)
    labels = data.pool.labels[idx]
    bundle = None
    if len(np.unique(labels)) == 2:
        bundle = train_base(data.table, data.pool.events[idx], labels, None, model_config, train_config)
    rows.append(row(source, target, "target_only", ABLATION_BUDGET, seed, _test_metrics(bundle, data), len(idx),
                    time.perf_counter() - t0))
    t0 = time.perf_counter()
    pred = event_count_lr(data.pool.events, data.pool.labels, data.test.events, len(data.table), n_labels, seed)
    rows.append(row(source, target, "event_count_lr", ABLATION_BUDGET, seed,
                    detection_metrics(data.test.labels, pred), n_labels, time.perf_counter() - t0))
    t0 = time.perf_counter()
    normal = data.pool.events[data.pool.labels == 0]
    pred = deeplog(normal, data.test.events, len(data.table), epochs=cfg.deeplog_epochs, seed=seed,
                   device=cfg.device)
    rows.append(row(source, target, "deeplog", 0.0, seed, detection_metrics(data.test.labels, pred), 0,
                    time.perf_counter() - t0))
    return rows


def _energies(base: ModelBundle, adapted: ModelBundle, data: Prepared) -> dict:
    return {
        "before_source": score(base, data.source.events).free_energy,
        "before_target": score(base, data.pool.events).free_energy,
        "after_source": score(adapted, data.source.events).free_energy,
        "after_target": score(adapted, data.pool.events).free_energy,
    }


def system_counts(outcome: PairOutcome) -> dict:
    c = outcome.counts
    return {"lines": c["target_pool"]["lines"], "pool": c["target_pool"]["windows"],
            "pool_anomalous": c["target_pool"]["anomalous_windows"], "test": c["target_test"]["windows"],
            "test_anomalous": c["target_test"]["anomalous_windows"]}


def run_all(config: ReproduceConfig, progress: Progress | None = None,
            on_pair: Callable[[tuple[str, str]], None] | None = None) -> tuple[list[dict], dict, dict, dict]:
    """Every pair: (rows, per-target-system counts, free energies per pair, diagnostics per pair)."""
    rows, counts, energies, diags = [], {}, {}, {}
    for pair in config.pairs:
        if on_pair:
            on_pair(pair)
        outcome = run_pair(*pair, config, progress)
        rows += outcome.rows
        counts[pair[1]] = system_counts(outcome)
        energies[pair] = outcome.energies
        diags[pair] = outcome.diagnostics
    return rows, counts, energies, diags


def describe_data(pairs, config: ReproduceConfig, progress: Progress | None = None) -> tuple[dict, dict]:
    """Counts and diagnostics of each pair's data without training anything (for --report-only)."""
    counts, diags = {}, {}
    for source, target in pairs:
        data = prepare(ExperimentConfig(source, target, data_dir=config.data_dir, device=config.device,
                                        cache_dir=config.cache_dir), progress)
        outcome = PairOutcome([], data.counts, {}, diagnostics(data))
        counts[target], diags[(source, target)] = system_counts(outcome), outcome.diagnostics
    return counts, diags
