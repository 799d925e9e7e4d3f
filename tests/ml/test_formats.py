"""Log line formats: compiling log_format strings, presets, and the presets on the real files."""

import gzip
import os
from pathlib import Path

import pytest

from ml.formats import PRESETS, compile_log_format, get_format

BGL_LINE = (
    "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 "
    "RAS KERNEL INFO instruction cache parity error corrected"
)
TB_LINE = "- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond(pam_unix)[2915]: session closed for user root"
TB_NO_PID = (
    "- 1132065268 2005.11.15 bn147 Nov 15 06:34:28 bn147/bn147 Server Administrator: "
    "Instrumentation Service EventID: 1052 Temperature sensor returned to a normal value"
)
ZK_INFO = "2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - Notification time out: 3200"
ZK_ERROR = "2015-07-29 19:04:12,394 - ERROR [LearnerHandler-/10.10.34.13:37366:LearnerHandler@562] - Unexpected exception causing shutdown"


def test_compile_splits_fields_and_keeps_the_rest_in_content():
    fmt = compile_log_format("<Date> <Time> <Level> <Component>: <Content>")
    assert fmt.fields == ("Date", "Time", "Level", "Component", "Content")
    assert fmt.name == "<Date> <Time> <Level> <Component>: <Content>"
    fields = fmt.parse("2024-01-02 10:00:00   WARN  db.pool: retry: 3 of 5")
    assert fields == {"Date": "2024-01-02", "Time": "10:00:00", "Level": "WARN",
                      "Component": "db.pool", "Content": "retry: 3 of 5"}


def test_parse_returns_none_for_a_malformed_line():
    fmt = compile_log_format("<Date> <Time> <Level> <Component>: <Content>")
    assert fmt.parse("no colon here") is None
    assert fmt.parse("") is None


def test_compile_uses_the_given_name():
    assert compile_log_format("<Level> <Content>", name="mini").name == "mini"


@pytest.mark.parametrize("bad, words", [
    ("<Date> <Time> <Message>", "no <Content>"),
    ("<Level> <Level> <Content>", "twice"),
    ("<Level> ([ <Content>", "not a valid pattern"),
])
def test_compile_refuses_bad_formats(bad, words):
    with pytest.raises(ValueError, match=words):
        compile_log_format(bad)


def test_presets_are_named_and_found_case_insensitively():
    for name in ("BGL", "Thunderbird", "Zookeeper", "HDFS", "synthetic-a", "synthetic-b"):
        assert name in PRESETS
        assert get_format(name.lower()).name == name
    assert get_format("bgl") is get_format("BGL")


def test_get_format_accepts_a_log_format_string():
    fmt = get_format("<Level> <Content>")
    assert fmt.parse("INFO hello world") == {"Level": "INFO", "Content": "hello world"}


def test_get_format_lists_presets_for_an_unknown_name():
    with pytest.raises(ValueError, match="BGL.*Thunderbird.*Zookeeper.*HDFS"):
        get_format("Syslog")


def test_bgl_fields():
    fields = get_format("BGL").parse(BGL_LINE)
    assert fields["Label"] == "-" and fields["Component"] == "KERNEL" and fields["Level"] == "INFO"
    assert fields["Time"] == "2005-06-03-15.42.50.675872"
    assert fields["Content"] == "instruction cache parity error corrected"


def test_thunderbird_with_and_without_pid():
    tb = get_format("Thunderbird")
    with_pid = tb.parse(TB_LINE)
    assert with_pid["Component"] == "crond(pam_unix)" and with_pid["PID"] == "2915"
    assert with_pid["Content"] == "session closed for user root"
    without = tb.parse(TB_NO_PID)
    assert without["Component"] == "Server Administrator" and without["PID"] == ""
    assert without["Content"].startswith("Instrumentation Service EventID: 1052")


def test_zookeeper_level_padding():
    zk = get_format("Zookeeper")
    info, error = zk.parse(ZK_INFO), zk.parse(ZK_ERROR)
    assert info["Level"] == "INFO" and info["Id"] == "774" and info["Content"] == "Notification time out: 3200"
    assert error["Level"] == "ERROR" and error["Content"] == "Unexpected exception causing shutdown"


def test_hdfs_line():
    line = "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating"
    fields = get_format("HDFS").parse(line)
    assert fields["Pid"] == "148" and fields["Component"] == "dfs.DataNode$PacketResponder"
    assert fields["Content"].endswith("blk_38865049064139660 terminating")


def test_timestamp_fields():
    assert get_format("BGL").timestamp_fields == ("Time",)
    assert get_format("Thunderbird").timestamp_fields == ("Timestamp",)
    assert get_format("Zookeeper").timestamp_fields == ("Date", "Time")
    assert compile_log_format("<Time> <Level> <Date> <Content>").timestamp_fields == ("Time", "Date")


REAL_FILES = [
    ("BGL", "BGL/BGL_2k.log", False),
    ("BGL", "BGL/slices/bgl-alert-16891b3__bgl_first2507.log", False),
    ("BGL", "BGL/BGL_first10k.log.gz", False),
    ("Thunderbird", "Thunderbird/Thunderbird_2k.log", False),
    ("Thunderbird", "Thunderbird/Thunderbird_wazuh_19k_prefixed.log.gz", True),
    ("Thunderbird", "Thunderbird/Thunderbird_dn30_VAPI_excerpt_52lines.log", False),
    ("Zookeeper", "Zookeeper/Zookeeper_2k.log", False),
    ("Zookeeper", "Zookeeper/Zookeeper_2_excerpt_from_full.log", False),
]


@pytest.mark.data
@pytest.mark.parametrize("preset, relative, prefixed", REAL_FILES)
def test_presets_parse_at_least_99_percent_of_real_lines(preset, relative, prefixed):
    path = _data_dir() / relative
    if not path.is_file():
        pytest.skip(f"{path} not present")
    opener = gzip.open if relative.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    if prefixed:
        lines = [line.split(None, 1)[1] for line in lines]
    fmt = get_format(preset)
    bad = [line for line in lines if fmt.parse(line) is None]
    assert len(bad) <= 0.01 * len(lines), bad[:5]


def _data_dir() -> Path:
    value = os.environ.get("LOGACTION_DATA_DIR")
    if not value or not Path(value).is_dir():
        pytest.skip("LOGACTION_DATA_DIR is not set to the public data sets")
    return Path(value)
