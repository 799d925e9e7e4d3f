"""A simulated-oracle experiment: source -> target transfer with active labeling, scored on target test windows.

Only windows the selection picked have their ground truth revealed; test windows are used for nothing but
the final figures.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from ml.active import per_round_budget, run_rounds
from ml.embedding import TemplateEmbedder
from ml.evaluate import detection_metrics
from ml.model import ModelConfig
from ml.parsing import ParseConfig
from ml.sampling import DEFAULT_COVERAGE
from ml.pipeline import build_table, make_windows, parse_system
from ml.training import ModelBundle, TrainConfig, score, train_base
from ml.windowing import Windows, chronological_split

Progress = Callable[[str, float], None]


@dataclass
class ExperimentConfig:
    source: str
    target: str
    data_dir: str | None = None
    budget: float = 0.02
    rounds: int = 2
    strategy: str = "logaction"
    transfer: bool = True
    hidden: int = 128
    epochs: int | None = None
    finetune_steps: int | None = None
    lambda1: float = 0.1
    coverage: float = DEFAULT_COVERAGE
    seed: int = 0
    device: str = "auto"
    window_size: int | None = None
    stride: int | None = None
    embedder_path: str | None = None
    cache_dir: str | None = None
    synthetic_lines: int | None = None


@dataclass
class Prepared:
    """Windows of the source and the target's pool / test parts, as table rows."""

    table: np.ndarray
    source: Windows
    pool: Windows
    test: Windows
    counts: dict = field(default_factory=dict)
    embedder: str = ""


def prepare(config: ExperimentConfig, progress: Progress | None = None) -> Prepared:
    from ml.datasets import load_system

    overrides = {k: v for k, v in (("window_size", config.window_size), ("stride", config.stride)) if v}
    systems = [load_system(name, config.data_dir, seed=config.seed + i, n_lines=config.synthetic_lines,
                           **overrides)
               for i, name in enumerate((config.source, config.target))]
    parsed = [parse_system(s, ParseConfig(), progress) for s in systems]
    embedder = TemplateEmbedder(config.embedder_path, device=config.device, cache_dir=config.cache_dir)
    table = build_table(parsed, embedder, progress)
    source_w, target_w = (make_windows(p, table) for p in parsed)
    source_w = source_w.take(np.flatnonzero(source_w.labels >= 0))
    pool_idx, test_idx = chronological_split(target_w, 0.7, n_lines=len(parsed[1].cluster_ids))
    pool, test = target_w.take(pool_idx), target_w.take(test_idx)
    test = test.take(np.flatnonzero(test.labels >= 0))
    counts = {
        "source": _describe(systems[0], source_w), "target_pool": _describe(systems[1], pool),
        "target_test": _describe(systems[1], test), "templates": len(table.keys),
    }
    return Prepared(table.vectors, source_w, pool, test, counts, embedder.name)


def _describe(system, windows: Windows) -> dict:
    return {"system": system.name, "lines": len(system.records), "windows": len(windows),
            "anomalous_windows": int((windows.labels == 1).sum())}


def evaluate(bundle: ModelBundle | None, test: Windows) -> dict:
    if bundle is None:  # nothing learned: a detector that flags nothing
        pred = np.zeros(len(test), np.int8)
    else:
        pred = score(bundle, test.events).predictions(bundle.threshold)
    m = detection_metrics(test.labels, pred)
    return {"precision": m.precision, "recall": m.recall, "f1": m.f1}


def run_experiment(config: ExperimentConfig, progress: Progress | None = None,
                   prepared: Prepared | None = None) -> dict:
    """Runs one experiment and returns its figures (the ``--json`` document)."""
    started = time.perf_counter()
    data = prepared or prepare(config, progress)
    model_config = ModelConfig(hidden=config.hidden)
    train_config = TrainConfig(seed=config.seed, device=config.device)
    if config.epochs:
        train_config.epochs = config.epochs
    if config.finetune_steps:
        train_config.finetune_steps = config.finetune_steps
    if config.transfer:
        base = train_base(data.table, data.source.events, data.source.labels, data.pool.events, model_config,
                          train_config, progress)
        base.meta["embedder"] = data.embedder
        source = (data.source.events, data.source.labels)
    else:
        base = None
        source = (data.source.events[:0], data.source.labels[:0])
    source_only = evaluate(base, data.test)
    oracle = lambda idx: data.pool.labels[idx]  # noqa: E731 - the simulated oracle reveals picked labels only
    budgets = per_round_budget(len(data.pool), config.budget, config.rounds)
    final, state, history = run_rounds(base, source=source, pool=data.pool.events, oracle=oracle,
                                       budgets=budgets, strategy=config.strategy, lambda1=config.lambda1,
                                       coverage=config.coverage,
                                       train_config=train_config, table=data.table, model_config=model_config,
                                       progress=progress)
    rounds = [dict(round=h.round, selected=h.selected, anomalies_found=h.anomalies_found,
                   labels_total=h.labels_total, **evaluate(h.bundle, data.test)) for h in history]
    result = {
        "source": config.source, "target": config.target, "strategy": config.strategy,
        "transfer": config.transfer, "budget": config.budget, "seed": config.seed,
        "labels_used": len(state.labels), "anomalies_labeled": int(sum(state.labels)),
        **evaluate(final, data.test),
        "f1_source_only": source_only["f1"], "source_only": source_only,
        "rounds": rounds, "data": data.counts,
        "settings": {**asdict(model_config), **asdict(train_config), "lambda1": config.lambda1, "coverage": config.coverage},
    }
    result["seconds"] = round(time.perf_counter() - started, 2)
    return result
