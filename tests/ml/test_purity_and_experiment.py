import json
import subprocess
import sys

import pytest

from ml.experiment import ExperimentConfig, run_experiment


def test_import_ml_loads_no_web_or_db_modules():
    code = ("import ml, ml.parsing, ml.training, ml.sampling, ml.experiment, ml.cli, sys; "
            "bad = {'fastapi', 'sqlalchemy', 'celery', 'app'} & set(sys.modules); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_logaction_beats_source_only_on_synthetic_systems(tmp_path):
    config = ExperimentConfig("synthetic-a", "synthetic-b", budget=0.02, rounds=2, hidden=64, stride=10,
                              synthetic_lines=10000, seed=0, device="cpu", cache_dir=str(tmp_path))
    result = run_experiment(config)
    assert result["labels_used"] == round(0.02 * result["data"]["target_pool"]["windows"])
    assert result["f1"] >= result["f1_source_only"] + 0.15, result
    assert result["f1"] > 0.6
    json.dumps(result)  # the --json document must be serialisable


def test_cli_reports_a_missing_data_dir_without_traceback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "ml.cli", "experiment", "--source", "BGL", "--target",
                          "Thunderbird", "--data-dir", str(tmp_path / "absent"), "--quiet"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "does not exist" in out.stderr and "Traceback" not in out.stderr
