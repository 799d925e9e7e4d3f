"""`logaction reproduce --quick` on one pair of the public data: files, tables and sane values."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ml.reproduce import VARIANTS

DATA = os.environ.get("LOGACTION_DATA_DIR")


@pytest.mark.data
@pytest.mark.slow
def test_quick_reproduction_writes_tables_and_plots(tmp_path):
    if not DATA or not Path(DATA, "Zookeeper").is_dir():
        pytest.skip("LOGACTION_DATA_DIR is not set to the public data sets")
    out = tmp_path / "results"
    done = subprocess.run([sys.executable, "-m", "ml.cli", "reproduce", "--data-dir", DATA, "--quick", "--pairs",
                           "Zookeeper:BGL", "--out", str(out), "--quiet"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads((out / "results.json").read_text())
    assert {r["variant"] for r in rows} == set(VARIANTS)
    for r in rows:
        assert set(r) == {"source", "target", "variant", "budget", "seed", "f1", "precision", "recall",
                          "labels_used", "seconds"}
        assert 0.0 <= r["f1"] <= 1.0 and 0.0 <= r["precision"] <= 1.0 and 0.0 <= r["recall"] <= 1.0
        assert (r["source"], r["target"]) == ("Zookeeper", "BGL")
    curve = sorted((r["budget"], r["labels_used"]) for r in rows if r["variant"] == "logaction")
    assert [b for b, _ in curve] == [0.0, 0.005, 0.01, 0.02, 0.05]
    assert [n for _, n in curve] == sorted(n for _, n in curve) and curve[0][1] == 0
    two_pct = {r["variant"]: r["labels_used"] for r in rows if r["budget"] == 0.02}
    assert len({two_pct[v] for v in ("logaction", "random", "no_uncertainty", "no_energy", "target_only",
                                     "event_count_lr")}) == 1  # the same number of labels for everyone
    text = (out / "RESULTS.md").read_text()
    for heading in ("Table III", "Table IV", "RQ2", "Data"):
        assert heading in text
    assert "Zookeeper → BGL" in text and "97.46" in text
    for png in ("f1_vs_budget.png", "free_energy_Zookeeper_to_BGL.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
