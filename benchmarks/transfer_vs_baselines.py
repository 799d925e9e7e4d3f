"""LogAction vs simple baselines given the same number of target labels, over several seeds.

Baselines: logistic regression on event-count vectors trained on *random* target labels (class-balanced),
and LogAction's own network fine-tuned on random picks (the "without active learning" ablation).
Usage: python benchmarks/transfer_vs_baselines.py --source BGL --target Thunderbird [--seeds 3]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml.baselines import event_count_lr  # noqa: E402
from ml.cli import default_cache_dir  # noqa: E402
from ml.evaluate import detection_metrics  # noqa: E402
from ml.experiment import ExperimentConfig, prepare, run_experiment  # noqa: E402


def lr_f1(data, n_labels: int, seed: int) -> float:
    pred = event_count_lr(data.pool.events, data.pool.labels, data.test.events, len(data.table), n_labels, seed)
    return detection_metrics(data.test.labels, pred).f1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="BGL")
    ap.add_argument("--target", default="Thunderbird")
    ap.add_argument("--data-dir", default=os.environ.get("LOGACTION_DATA_DIR"))
    ap.add_argument("--budget", type=float, default=0.02)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--finetune-steps", type=int, default=None)
    ap.add_argument("--hidden", type=int, default=128)
    args = ap.parse_args()
    base = ExperimentConfig(args.source, args.target, data_dir=args.data_dir, budget=args.budget,
                            cache_dir=default_cache_dir(), finetune_steps=args.finetune_steps, hidden=args.hidden)
    data = prepare(base)
    rows: dict[str, list[float]] = {"logaction": [], "source only": [], "random picks (same net)": [],
                                    "event-count LR (random picks)": []}
    for seed in range(args.seeds):
        ours = run_experiment(ExperimentConfig(**{**base.__dict__, "seed": seed}), prepared=data)
        rnd = run_experiment(ExperimentConfig(**{**base.__dict__, "seed": seed, "strategy": "random"}),
                             prepared=data)
        rows["logaction"].append(ours["f1"])
        rows["source only"].append(ours["f1_source_only"])
        rows["random picks (same net)"].append(rnd["f1"])
        rows["event-count LR (random picks)"].append(lr_f1(data, ours["labels_used"], seed))
        n_labels = ours["labels_used"]
    print(f"{args.source} -> {args.target}, {args.budget:.1%} of {len(data.pool)} pool windows = {n_labels} labels, "
          f"{len(data.test)} test windows ({int(data.test.labels.sum())} anomalous), {args.seeds} seeds")
    print(f"{'method':<32}{'mean F1':>9}{'std':>8}  per seed")
    for name, f1s in rows.items():
        print(f"{name:<32}{np.mean(f1s):>9.4f}{np.std(f1s):>8.4f}  " + " ".join(f"{f:.4f}" for f in f1s))


if __name__ == "__main__":
    main()
