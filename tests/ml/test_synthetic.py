"""Synthetic systems: determinism, formats, label structure, shared anomaly meanings."""

import re
import time
from collections import Counter

import numpy as np
import pytest

from ml.formats import get_format
from ml.labels import label_rule_from_spec, load_session_labels
from ml.reading import read_records
from ml.synthetic import SYSTEMS, generate, write

N = 6000


@pytest.fixture(scope="module", params=SYSTEMS)
def log(request):
    return generate(request.param, n_lines=N, seed=3)


def _parsed(log):
    fmt = get_format(log.format)
    return [fmt.parse(line) for line in log.lines]


def test_same_seed_same_log_other_seed_other_log():
    for name in SYSTEMS:
        first, again, other = generate(name, 2000, seed=1), generate(name, 2000, seed=1), generate(name, 2000, seed=2)
        assert first.lines == again.lines and np.array_equal(first.labels, again.labels)
        assert first.lines != other.lines


def test_systems_do_not_share_a_random_stream():
    a, b = generate("synthetic-a", 500), generate("synthetic-b", 500)
    assert not np.array_equal(a.labels, b.labels)


def test_size_rate_and_label_dtype(log):
    assert len(log.lines) == N and log.labels.shape == (N,) and log.labels.dtype == np.int8
    assert int(log.labels.sum()) == round(N * 0.03)


def test_every_line_parses_and_the_label_token_matches(log):
    fields = _parsed(log)
    assert all(f is not None for f in fields)
    rule = label_rule_from_spec(log.label_rule)
    assert [rule(f) for f in fields] == log.labels.tolist()


def test_without_label_token_the_nolabel_preset_reads_the_lines():
    for name in SYSTEMS:
        plain, labelled = generate(name, 1000, label_token=False), generate(name, 1000)
        assert plain.format == f"{name}-nolabel" and plain.label_rule is None
        assert all(get_format(plain.format).parse(line) is not None for line in plain.lines)
        assert [line.split(" ", 1)[1] for line in labelled.lines] == plain.lines
        assert np.array_equal(plain.labels, labelled.labels)


def test_anomalous_window_share_at_the_default_rate():
    for name in SYSTEMS:
        labels = generate(name, seed=5).labels
        windows = labels[: len(labels) // 20 * 20].reshape(-1, 20).max(axis=1)
        assert 0.10 <= windows.mean() <= 0.30


def test_anomalies_come_in_short_bursts(log):
    runs = [len(m.group()) for m in re.finditer("1+", "".join(map(str, log.labels)))]
    # Two bursts can land side by side, so a few runs may exceed 5.
    assert np.mean([r <= 5 for r in runs]) > 0.9 and max(runs) <= 15


def test_levels_are_not_a_perfect_anomaly_signal(log):
    counts = Counter((f["Level"], int(y)) for f, y in zip(_parsed(log), log.labels))
    assert counts["ERROR", 0] > 0 and counts["WARN", 0] > 0
    anomalous_not_error = sum(n for (level, y), n in counts.items() if y == 1 and level not in ("ERROR", "FATAL"))
    assert anomalous_not_error > 0


MEANINGS = {
    "synthetic-a": ["ENOENT|No such file|file not found", "ECONNREFUSED|refused", "out of memory|allocation failure",
                    "machine check|ECC|power module fault"],
    "synthetic-b": ["FileNotFound|NoSuchFile|not found", "Connection refused|connection refused",
                    "OutOfMemoryError|allocate", "Input/output error|SMART failure|Unrecoverable read error"],
}


def test_both_systems_word_the_shared_meanings_differently():
    texts = {}
    for name in SYSTEMS:
        log = generate(name, 20000)
        anomalous = [line for line, y in zip(log.lines, log.labels) if y]
        for pattern in MEANINGS[name]:
            assert any(re.search(pattern, line) for line in anomalous), (name, pattern)
        texts[name] = set(re.findall(r"[A-Za-z]{4,}", " ".join(f["Content"] for f in _parsed(log))))
    shared = texts["synthetic-a"] & texts["synthetic-b"]
    assert len(shared) / len(texts["synthetic-a"] | texts["synthetic-b"]) < 0.15


def test_rare_normal_templates_exist(log):
    masked = Counter(
        (int(y), re.sub(r"0x[0-9a-f]+|\d+", "#", f["Content"])) for f, y in zip(_parsed(log), log.labels)
    )
    rare_normal = [t for (y, t), n in masked.items() if y == 0 and n <= N * 0.002]
    assert rare_normal


def test_workflows_open_before_they_close():
    a = generate("synthetic-a", 3000)
    started = {m: i for i, line in enumerate(a.lines) for m in re.findall(r"job (\d+) started", line)}
    finished = {m: i for i, line in enumerate(a.lines) for m in re.findall(r"job (\d+) finished", line)}
    both = started.keys() & finished.keys()
    assert len(both) > 50 and all(started[j] < finished[j] for j in both)
    b = generate("synthetic-b", 3000)
    received = {m: i for i, line in enumerate(b.lines) for m in re.findall(r"request_id=(\w+)", line)}
    completed = {m: i for i, line in enumerate(b.lines) for m in re.findall(r"Completed request (\w+)", line)}
    assert len(completed) > 50 and all(received[r] < completed[r] for r in completed)


def test_timestamps_increase():
    for name in SYSTEMS:
        log = generate(name, 2000, label_token=False)
        fmt = get_format(log.format)
        stamps = [" ".join(fmt.parse(line)[k] for k in fmt.timestamp_fields) for line in log.lines]
        assert stamps == sorted(stamps)


def test_twenty_thousand_lines_in_under_a_second():
    for name in SYSTEMS:
        start = time.perf_counter()
        generate(name, 20000, seed=11)
        assert time.perf_counter() - start < 1.0


def test_write_with_label_tokens(tmp_path):
    log = generate("synthetic-a", 500)
    path = write(log, tmp_path / "out")
    assert path == tmp_path / "out" / "synthetic-a.log" and not (path.parent / "synthetic-a.labels.csv").exists()
    records, report = read_records(path, get_format(log.format), label_rule_from_spec(log.label_rule), strict=True)
    assert [r.label for r in records] == log.labels.tolist() and report.lines == 500


def test_write_without_label_tokens_adds_a_label_file(tmp_path):
    log = generate("synthetic-b", 500, label_token=False)
    path = write(log, tmp_path)
    labels = load_session_labels(tmp_path / "synthetic-b.labels.csv")
    assert [labels[str(i)] for i in range(1, 501)] == log.labels.tolist()
    assert path.read_text().splitlines() == log.lines


@pytest.mark.parametrize("kwargs", [{"name": "synthetic-c"}, {"name": "synthetic-a", "anomaly_rate": 1.0},
                                    {"name": "synthetic-a", "n_lines": 0}])
def test_generate_refuses_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        generate(**kwargs)


def test_zero_rate_means_no_anomalies():
    assert generate("synthetic-b", 1000, anomaly_rate=0.0).labels.sum() == 0
