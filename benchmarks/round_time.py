"""Wall time of one active-learning round at 20k target windows: score the pool, select (Algorithm 1),
fine-tune. Synthetic arrays (the times do not depend on the logs' content), default model and training
settings unless overridden, on the CPU threads given (the target: <= 10 s on 2 cores).

    python benchmarks/round_time.py                       # defaults, 2 threads
    python benchmarks/round_time.py --finetune-steps 30   # what a shorter fine-tune costs
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np


def synthetic_arrays(n_templates: int, dim: int, n_source: int, n_pool: int, length: int, seed: int = 0):
    """Template table and windows that follow a few repeating patterns, with anomalous templates mixed in."""
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(n_templates + 1, dim)).astype(np.float32)
    table /= np.linalg.norm(table, axis=1, keepdims=True)
    table[0] = 0.0

    def windows(n: int, share: float):
        labels = (rng.random(n) < share).astype(np.int8)
        starts = rng.integers(1, n_templates - length, n)
        events = (starts[:, None] + np.arange(length)[None, :]) % (n_templates - 10) + 1
        odd = labels == 1
        events[odd, rng.integers(0, length, odd.sum())] = rng.integers(n_templates - 9, n_templates + 1, odd.sum())
        return events.astype(np.int64), labels

    return table, windows(n_source, 0.05), windows(n_pool, 0.05)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    from ml.model import ModelConfig
    from ml.sampling import DEFAULT_COVERAGE, select
    from ml.training import TrainConfig, fine_tune, score, train_base

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=20000, help="target pool size")
    parser.add_argument("--source", type=int, default=10000, help="labeled source windows")
    parser.add_argument("--labels", type=float, default=0.02, help="target labels so far, share of the pool")
    parser.add_argument("--round", type=float, default=0.01, help="windows selected per round, share of the pool")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=None, help="override ModelConfig.hidden")
    parser.add_argument("--finetune-steps", type=int, default=None, help="override TrainConfig.finetune_steps")
    parser.add_argument("--batch-size", type=int, default=None, help="override TrainConfig.batch_size")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    model_config = ModelConfig(**({"hidden": args.hidden} if args.hidden else {}))
    overrides = {"device": "cpu"}
    if args.finetune_steps is not None:
        overrides["finetune_steps"] = args.finetune_steps
    if args.batch_size is not None:
        overrides["batch_size"] = args.batch_size
    config = TrainConfig(**overrides)
    table, (src_x, src_y), (pool_x, pool_y) = synthetic_arrays(200, 384, args.source, args.windows, 20)
    # The base model's quality does not change a round's cost: train it briefly.
    base = train_base(table, src_x, src_y, pool_x, model_config, dataclasses.replace(config, epochs=1, min_steps=5))

    import sklearn.cluster  # noqa: F401 - a worker imports it once, at its first round, not every round

    scores, t_score = timed(lambda: score(base, pool_x, device="cpu"))
    budget = int(np.ceil(args.round * args.windows))
    picked, t_select = timed(lambda: select(scores.free_energy, scores.uncertainty, budget, lambda1=0.1,
                                            vectors=scores.vectors, events=pool_x, coverage=DEFAULT_COVERAGE))
    n_labels = int(args.labels * args.windows)
    labeled = np.random.default_rng(1).choice(args.windows, n_labels, replace=False)
    rest = np.setdiff1d(np.arange(args.windows), labeled)
    _, t_tune = timed(lambda: fine_tune(base, src_x, src_y, pool_x[labeled], pool_y[labeled], pool_x[rest], config))
    steps = config.finetune_steps

    rows = [("score", f"{args.windows:,} windows", t_score), ("select", f"{len(picked)} picked", t_select),
            ("fine-tune", f"{steps} steps x batch {config.batch_size}, {n_labels} target labels", t_tune)]
    print(f"\none round, {args.windows:,} target windows, {args.source:,} source windows, "
          f"hidden {model_config.hidden}, {args.threads} threads\n")
    print(f"{'phase':<10} {'work':<48} {'seconds':>8}")
    for name, work, seconds in rows:
        print(f"{name:<10} {work:<48} {seconds:8.2f}")
    total = sum(r[2] for r in rows)
    print(f"{'total':<10} {'(target <= 10 s)':<48} {total:8.2f}")
    if steps:
        print(f"\nfine-tuning: {t_tune / steps * 1000:.0f} ms per step")


if __name__ == "__main__":
    main()
