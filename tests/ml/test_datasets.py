"""Named systems, synthetic systems and TOML dataset specs."""

import gzip
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ml.datasets import PUBLIC_STRIDE, DatasetError, WindowSettings, load_spec, load_system
from ml.synthetic import generate, write

SIMPLE_LINES = [
    "2024-01-01 10:00:00 INFO web: started",
    "2024-01-01 10:00:01 ERROR db: connection refused",
    "2024-01-01 10:00:02 WARN web: slow request",
]


def _data_dir() -> Path:
    value = os.environ.get("LOGACTION_DATA_DIR")
    if not value or not Path(value).is_dir():
        pytest.skip("LOGACTION_DATA_DIR is not set to the public data sets")
    return Path(value)


def _spec(folder: Path, body: str) -> Path:
    path = folder / "system.toml"
    path.write_text(body)
    return path


# --- synthetic and name handling ---------------------------------------------------------

def test_synthetic_system_is_generated_in_memory():
    data = load_system("synthetic-a", n_lines=2000, seed=4)
    assert data.name == "synthetic-a" and len(data.records) == 2000 and data.file_starts == [0]
    assert data.window == WindowSettings(20, 20, None) and data.session_labels is None
    labels = data.line_labels()
    assert labels.dtype == np.int8 and set(labels.tolist()) == {0, 1}
    assert np.array_equal(labels, generate("synthetic-a", 2000, seed=4).labels)


def test_window_can_be_overridden():
    data = load_system("Synthetic-B", n_lines=300, window_size=10, stride=1)
    assert (data.window.size, data.window.stride) == (10, 1)


@pytest.mark.parametrize("kwargs", [{"window_size": 0}, {"stride": -1}, {"n_lines": 0}])
def test_bad_overrides_are_refused(kwargs):
    with pytest.raises(DatasetError):
        load_system("synthetic-a", **{"n_lines": 100, **kwargs})


def test_unknown_name_lists_the_choices():
    with pytest.raises(DatasetError, match="BGL.*Thunderbird.*Zookeeper.*synthetic-a.*toml"):
        load_system("HDFS-full")


def test_named_system_needs_a_data_dir(monkeypatch):
    monkeypatch.delenv("LOGACTION_DATA_DIR", raising=False)
    with pytest.raises(DatasetError, match="LOGACTION_DATA_DIR"):
        load_system("BGL")


def test_named_system_with_a_missing_data_dir(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_system("Zookeeper", tmp_path / "nowhere")


def test_named_system_with_a_missing_file(tmp_path):
    (tmp_path / "BGL").mkdir()
    (tmp_path / "BGL" / "BGL_2k.log").write_text("")
    with pytest.raises(DatasetError, match="bgl_first2507.log is missing"):
        load_system("BGL", tmp_path)


# --- TOML specs ----------------------------------------------------------------------------

def test_spec_with_plain_and_gz_files(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "one.log").write_text("\n".join(SIMPLE_LINES) + "\n")
    (tmp_path / "logs" / "two.log.gz").write_bytes(gzip.compress("\n".join(SIMPLE_LINES[:2]).encode()))
    spec = _spec(tmp_path, """
name = "web"
files = ["logs/one.log", "logs/two.log.gz"]
log_format = "<Date> <Time> <Level> <Component>: <Content>"
[labels]
rule = "level"
levels = ["ERROR", "FATAL"]
[window]
size = 2
stride = 1
""")
    data = load_system(str(spec))
    assert data.name == "web" and data.file_starts == [0, 3] and len(data.records) == 5
    assert data.line_labels().tolist() == [0, 1, 0, 0, 1]
    assert data.window == WindowSettings(2, 1, None)
    assert data.source_files[1].endswith("two.log.gz")


def test_spec_defaults(tmp_path):
    (tmp_path / "a.log").write_text("\n".join(SIMPLE_LINES))
    spec = load_spec(_spec(tmp_path, 'files = ["a.log"]\nformat = "hdfs"\n'))
    assert spec["name"] == "system" and spec["labels"] == {"rule": "none"}
    assert spec["window"] == {"size": 20, "stride": 20, "session_regex": None}
    assert (spec["strip_prefix"], spec["restore_order"], spec["sort_by_time"]) == (False, "none", False)


def test_spec_with_a_preset_and_first_token_labels(tmp_path):
    log = generate("synthetic-a", 300, seed=2)
    write(log, tmp_path)
    data = load_system(_spec(tmp_path, 'files = ["synthetic-a.log"]\nformat = "synthetic-a"\n[labels]\nrule = "first_token"\n'))
    assert np.array_equal(data.line_labels(), log.labels)


def test_spec_with_a_line_label_file(tmp_path):
    log = generate("synthetic-b", 300, seed=2, label_token=False)
    write(log, tmp_path)
    spec = _spec(tmp_path, """
files = ["synthetic-b.log"]
format = "synthetic-b-nolabel"
[labels]
rule = "line_file"
file = "synthetic-b.labels.csv"
""")
    assert np.array_equal(load_system(spec).line_labels(), log.labels)


def test_spec_with_a_label_column(tmp_path):
    (tmp_path / "a.log").write_text("ok 1 hello\nbad 2 world\nmeh 3 other\n")
    spec = _spec(tmp_path, """
files = ["a.log"]
log_format = "<Status> <Seq> <Content>"
[labels]
rule = "column"
column = "Status"
anomalous = ["bad"]
normal = ["ok"]
""")
    assert load_system(spec).line_labels().tolist() == [0, 1, -1]


def test_spec_with_hdfs_session_labels(tmp_path):
    (tmp_path / "hdfs.log").write_text(
        "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating\n"
        "081109 203807 222 INFO dfs.DataNode$PacketResponder: PacketResponder 0 for block blk_-6952295868487656571 terminating\n"
        "081109 204005 35 INFO dfs.FSNamesystem: BLOCK* NameSystem.addStoredBlock: blockMap updated: 10.251.73.220:50010 is added to blk_7128370237687728475 size 67108864\n"
        "081109 204106 329 INFO dfs.DataNode$PacketResponder: Received block blk_-6952295868487656571 of size 67108864 from /10.251.194.213\n"
    )
    (tmp_path / "anomaly_label.csv").write_text(
        "BlockId,Label\nblk_38865049064139660,Normal\nblk_-6952295868487656571,Anomaly\nblk_7128370237687728475,Normal\n"
    )
    spec = _spec(tmp_path, r"""
name = "hdfs-mini"
files = ["hdfs.log"]
format = "HDFS"
[labels]
rule = "session_file"
file = "anomaly_label.csv"
session_regex = "(blk_-?\\d+)"
""")
    data = load_system(spec)
    assert [r.session for r in data.records] == [
        "blk_38865049064139660", "blk_-6952295868487656571", "blk_7128370237687728475", "blk_-6952295868487656571"]
    assert data.session_labels == {"blk_38865049064139660": 0, "blk_-6952295868487656571": 1, "blk_7128370237687728475": 0}
    assert data.window.session_regex == r"(blk_-?\d+)"
    assert data.line_labels().tolist() == [-1, -1, -1, -1]


def test_spec_sort_by_time_is_per_file_and_stable(tmp_path):
    lines = ["2024-01-01 10:00:05 INFO web: c", "2024-01-01 10:00:01 INFO web: a", "2024-01-01 10:00:05 INFO web: d",
             "2024-01-01 10:00:02 INFO web: b"]
    (tmp_path / "a.log").write_text("\n".join(lines))
    spec = _spec(tmp_path, 'files = ["a.log"]\nlog_format = "<Date> <Time> <Level> <Component>: <Content>"\nsort_by_time = true\n')
    data = load_system(spec)
    assert [r.content for r in data.records] == ["a", "b", "c", "d"]
    assert [r.line_no for r in data.records] == [2, 4, 1, 3]


def test_spec_strip_prefix_and_wazuh_order(tmp_path):
    lines = ["5.300 2024-01-01 10:00:03 INFO web: c", "5.100 2024-01-01 10:00:01 INFO web: a"]
    (tmp_path / "w.log").write_text("\n".join(lines))
    spec = _spec(tmp_path, 'files = ["w.log"]\nlog_format = "<Date> <Time> <Level> <Component>: <Content>"\n'
                           'strip_prefix = true\nrestore_order = "wazuh"\n')
    assert [r.content for r in load_system(spec).records] == ["a", "c"]


BASE = 'files = ["a.log"]\nformat = "HDFS"\n'
BAD_SPECS = [
    (BASE + "colour = 'red'\n", "'colour'"),
    ('format = "HDFS"\n', "'files'"),
    ('files = "a.log"\nformat = "HDFS"\n', "'files'"),
    ('files = ["missing.log"]\nformat = "HDFS"\n', "'files'.*missing.log"),
    ('files = ["a.log"]\n', "'format'.*'log_format'"),
    (BASE + 'log_format = "<Content>"\n', "'format'.*'log_format'"),
    ('files = ["a.log"]\nformat = "Syslog"\n', "'format'.*Syslog"),
    ('files = ["a.log"]\nlog_format = "<Date> <Message>"\n', "'log_format'.*Content"),
    (BASE + "strip_prefix = 'yes'\n", "'strip_prefix'"),
    (BASE + "restore_order = 'time'\n", "'restore_order'"),
    (BASE + "[window]\nsize = 0\n", "'window.size'"),
    (BASE + "[window]\nstride = true\n", "'window.stride'"),
    (BASE + "[window]\nwidth = 5\n", "'window.width'"),
    (BASE + "[window]\nsession_regex = '(blk'\n", "'window.session_regex'"),
    (BASE + "window = 5\n", "'window'"),
    (BASE + "[labels]\nrule = 'majority'\n", "'labels.rule'"),
    (BASE + "[labels]\nrule = 'level'\ncolumn = 'x'\n", "'labels.column'"),
    (BASE + "[labels]\nrule = 'level'\nlevels = []\n", "'labels.levels'"),
    (BASE + "[labels]\nrule = 'column'\n", "'labels.column'"),
    (BASE + "[labels]\nrule = 'column'\ncolumn = 'Status'\n", "reads field 'Status'"),
    (BASE + "[labels]\nrule = 'first_token'\n", "reads field 'Label'"),
    (BASE + "[labels]\nrule = 'session_file'\nfile = 'a.log'\n", "'labels.session_regex'"),
    (BASE + "[labels]\nrule = 'session_file'\nsession_regex = '(x)'\n", "'labels.file'"),
    (BASE + "[labels]\nrule = 'session_file'\nfile = 'nope.csv'\nsession_regex = '(x)'\n", "'labels.file'.*nope.csv"),
    (BASE + "name = [\n", "not valid TOML"),
]


@pytest.mark.parametrize("body, words", BAD_SPECS)
def test_bad_specs_name_the_field_and_the_file(tmp_path, body, words):
    (tmp_path / "a.log").write_text("\n".join(SIMPLE_LINES))
    path = _spec(tmp_path, body)
    with pytest.raises(DatasetError, match=words) as info:
        load_spec(path)
    assert "system.toml" in str(info.value)


def test_missing_spec_file(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_system(str(tmp_path / "absent.toml"))


def test_bad_session_label_file_is_a_dataset_error(tmp_path):
    (tmp_path / "a.log").write_text("\n".join(SIMPLE_LINES))
    (tmp_path / "labels.csv").write_text("id,label\nblk_1,perhaps\n")
    spec = _spec(tmp_path, BASE.replace("HDFS", "hdfs") + "[labels]\nrule = 'session_file'\nfile = 'labels.csv'\n"
                 "session_regex = '(blk_\\d+)'\n")
    with pytest.raises(DatasetError, match="labels.csv, line 2"):
        load_system(spec)


# --- the public data sets ------------------------------------------------------------------

def _file_slices(data):
    ends = [*data.file_starts[1:], len(data.records)]
    return [data.records[s:e] for s, e in zip(data.file_starts, ends)]


@pytest.mark.data
def test_bgl_preset_matches_sources_md():
    data = load_system("BGL", _data_dir())
    first, second = _file_slices(data)
    assert (len(first), len(second)) == (2507, 2000)
    assert sum(r.label for r in first) == 1307 and sum(r.label for r in second) == 143
    assert Counter(r.raw.split()[0] for r in first if r.label) == {"APPRES": 827, "APPTO": 477, "KERNMNTF": 3}
    assert data.window == WindowSettings(20, PUBLIC_STRIDE, None)


@pytest.mark.data
def test_thunderbird_preset_matches_sources_md():
    data = load_system("Thunderbird", _data_dir())
    first, second = _file_slices(data)
    assert len(first) == 2000 and sum(r.label for r in first) == 0
    report = data.reports[1]
    assert report.lines == 19350 and len(second) + len(report.malformed) == 19350 and len(report.malformed) < 20
    assert Counter(r.raw.split()[0] for r in second if r.label) == {"VAPI": 714, "CPU": 1}
    stamps = np.array([int(r.timestamp) for r in second])
    running_max = np.maximum.accumulate(stamps)
    assert (running_max - stamps).max() <= 4
    assert (stamps[0], stamps.max()) == (1132061285, 1132065384)


@pytest.mark.data
def test_zookeeper_preset_matches_sources_md():
    data = load_system("Zookeeper", _data_dir())
    first, second = _file_slices(data)
    assert (len(first), len(second)) == (1700, 2000)
    assert sum(r.label for r in first) == 0 and sum(r.label for r in second) == 13
    assert Counter(r.level for r in second) == {"WARN": 1318, "INFO": 669, "ERROR": 13}
    for part in (first, second):
        stamps = [r.timestamp for r in part]
        assert stamps == sorted(stamps)
