"""Command-line entry points of the ML library: ``logaction experiment`` (``register`` adds them to a CLI)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


class StageBars:
    """One tqdm bar per pipeline stage, fed by ``progress(stage, fraction)`` callbacks."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._bars: dict = {}

    def __call__(self, stage: str, fraction: float) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self._bars.get(stage)
        if bar is None:
            for other in self._bars.values():
                other.close()
            bar = self._bars[stage] = tqdm(total=1000, desc=f"{stage:<22}", leave=True, file=sys.stderr,
                                           bar_format="{desc} {bar} {percentage:3.0f}% {elapsed}")
        bar.update(int(fraction * 1000) - bar.n)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()


def add_experiment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", required=True, help="BGL, Thunderbird, Zookeeper, synthetic-a/-b or a spec .toml")
    p.add_argument("--target", required=True, help="same choices as --source")
    p.add_argument("--data-dir", default=None, help="public data sets folder (default $LOGACTION_DATA_DIR)")
    p.add_argument("--budget", type=float, default=0.02, help="share of the target pool to label (0.02 = 2%%)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--strategy", choices=("logaction", "random", "energy", "uncertainty"), default="logaction")
    p.add_argument("--no-transfer", action="store_true", help="no source: active learning from scratch")
    p.add_argument("--hidden", type=int, default=128, help="LSTM hidden size (paper: 512)")
    p.add_argument("--epochs", type=int, default=None, help="base training epochs")
    p.add_argument("--finetune-steps", type=int, default=None, help="optimiser steps per round")
    p.add_argument("--window-size", type=int, default=None)
    p.add_argument("--stride", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--embedder", default=None, help="local Hugging Face model folder (default: packaged MiniLM)")
    p.add_argument("--json", dest="json_path", default=None, help="write the figures to this file")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run_experiment_command(args: argparse.Namespace) -> int:
    from ml.datasets import DatasetError
    from ml.experiment import ExperimentConfig, run_experiment

    config = ExperimentConfig(
        source=args.source, target=args.target, data_dir=args.data_dir, budget=args.budget, rounds=args.rounds,
        strategy=args.strategy, transfer=not args.no_transfer, hidden=args.hidden, epochs=args.epochs,
        finetune_steps=args.finetune_steps, seed=args.seed, device=args.device, window_size=args.window_size,
        stride=args.stride, embedder_path=args.embedder, cache_dir=default_cache_dir(),
    )
    bars = StageBars(enabled=not args.quiet)
    try:
        result = run_experiment(config, progress=bars)
    except (DatasetError, FileNotFoundError, ValueError) as exc:
        bars.close()
        print(f"logaction experiment: error: {exc}", file=sys.stderr)
        return 2
    bars.close()
    print(format_result(result))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=2))
    return 0


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "logaction", "embeddings")


def format_result(r: dict) -> str:
    rows = [("source only (0 labels)", 0, r["source_only"])]
    rows += [(f"round {x['round']}", x["labels_total"], x) for x in r["rounds"]]
    lines = [f"{r['source']} -> {r['target']}  strategy={r['strategy']}  transfer={r['transfer']}  "
             f"budget={r['budget']:.2%}  seed={r['seed']}",
             f"{'model':<24}{'labels':>8}{'precision':>11}{'recall':>9}{'F1':>9}"]
    for name, labels, m in rows:
        lines.append(f"{name:<24}{labels:>8}{m['precision']:>11.4f}{m['recall']:>9.4f}{m['f1']:>9.4f}")
    lines.append(f"final F1 {r['f1']:.4f} with {r['labels_used']} target labels "
                 f"({r['anomalies_labeled']} anomalous) in {r['seconds']:.1f} s")
    return "\n".join(lines)


def add_reproduce_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None, help="public data sets folder (default $LOGACTION_DATA_DIR)")
    p.add_argument("--out", default="docs/results", help="folder for RESULTS.md, results.json and the plots")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="one seed, short trainings (CI-sized)")
    p.add_argument("--pairs", default=None, help="comma-separated SOURCE:TARGET pairs (default: all six)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--report-only", action="store_true",
                   help="rewrite RESULTS.md from the results.json and run.json already in --out (no training)")


def run_reproduce_command(args: argparse.Namespace) -> int:
    import time

    from ml.datasets import DatasetError
    from ml.report import rewrite_report, write_results
    from ml.reproduce import PAIRS, ReproduceConfig, describe_data, run_all

    try:
        pairs = PAIRS if not args.pairs else tuple(tuple(p.split(":")) for p in args.pairs.split(","))
        if any(len(p) != 2 for p in pairs):
            raise ValueError(f"--pairs takes SOURCE:TARGET items, got {args.pairs!r}")
        config = ReproduceConfig(data_dir=args.data_dir, seeds=args.seeds, quick=args.quick, pairs=pairs,
                                 device=args.device, cache_dir=default_cache_dir())
        started = time.perf_counter()
        bars = StageBars(enabled=not args.quiet)
        if args.report_only:
            counts, diags = describe_data(pairs, config, bars)
            bars.close()
            rewrite_report(Path(args.out), counts, diags)
            print((Path(args.out) / "RESULTS.md").read_text())
            return 0
        rows, counts, energies, diags = run_all(config, bars, on_pair=lambda p: print(f"== {p[0]} -> {p[1]}",
                                                                                      file=sys.stderr))
        bars.close()
    except (DatasetError, FileNotFoundError, ValueError, KeyError) as exc:
        print(f"logaction reproduce: error: {exc}", file=sys.stderr)
        return 2
    effective = config.effective()
    settings = {"seeds": effective.seeds, "hidden": effective.hidden, "epochs": effective.epochs,
                "finetune_steps": effective.finetune_steps, "quick": args.quick}
    out = Path(args.out)
    write_results(rows, counts, energies, diags, out, seconds=time.perf_counter() - started, settings=settings)
    print((out / "RESULTS.md").read_text())
    return 0


def register(subparsers) -> None:
    """Adds the ML commands to an argparse sub-command set."""
    p = subparsers.add_parser("experiment", help="simulated-oracle transfer experiment on labeled logs")
    add_experiment_args(p)
    p.set_defaults(func=run_experiment_command)
    p = subparsers.add_parser("reproduce", help="the paper's evaluation on the public logs: tables and plots")
    add_reproduce_args(p)
    p.set_defaults(func=run_reproduce_command)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="logaction")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
