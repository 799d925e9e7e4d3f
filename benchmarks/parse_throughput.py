"""Template-mining throughput: LogAction's parser vs plain drain3 ``add_log_message`` on the same contents.

Both get the same Drain settings and the same masking regexes; headers are stripped first for both.
Usage: python benchmarks/parse_throughput.py [--data-dir DIR] [--synthetic-lines N]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drain3 import TemplateMiner  # noqa: E402

from ml.datasets import load_system  # noqa: E402
from ml.parsing import ParseConfig, TemplateParser, drain3_config  # noqa: E402


def rate(fn, contents) -> tuple[float, int]:
    start = time.perf_counter()
    n_templates = fn(contents)
    return len(contents) / (time.perf_counter() - start), n_templates


def ours(contents) -> int:
    parser = TemplateParser(ParseConfig())
    parser.add_many(contents)
    return len(parser)


def plain_drain3(contents) -> int:
    miner = TemplateMiner(config=drain3_config(ParseConfig()))
    for c in contents:
        miner.add_log_message(c)
    return len(miner.drain.clusters)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=os.environ.get("LOGACTION_DATA_DIR"))
    ap.add_argument("--synthetic-lines", type=int, default=200_000)
    args = ap.parse_args()
    systems = ["synthetic-a", "synthetic-b"] + (["BGL", "Thunderbird", "Zookeeper"] if args.data_dir else [])
    print(f"{'system':<14}{'lines':>9}{'ours lines/s':>15}{'drain3 lines/s':>16}{'speed-up':>10}{'templates':>12}")
    for name in systems:
        system = load_system(name, args.data_dir, n_lines=args.synthetic_lines)
        contents = [r.content for r in system.records]
        ours_rate, ours_t = rate(ours, contents)
        d3_rate, d3_t = rate(plain_drain3, contents)
        print(f"{name:<14}{len(contents):>9}{ours_rate:>15,.0f}{d3_rate:>16,.0f}{ours_rate / d3_rate:>9.1f}x"
              f"{ours_t:>6}/{d3_t:<5}")


if __name__ == "__main__":
    main()
