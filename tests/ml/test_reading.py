"""Reading log lines into records: malformed lines, prefixes, order restoration, files."""

import gzip

import pytest

from ml.formats import compile_log_format, get_format
from ml.labels import first_token_rule, level_rule
from ml.reading import (
    LogReadError, ReadReport, iter_records, open_text, read_records, restore_wazuh_order, session_of,
)

SIMPLE = compile_log_format("<Date> <Time> <Level> <Component>: <Content>")
BGL_LINES = [
    "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction cache parity error corrected",
    "KERNDTLB 1118769064 2005.06.14 R23-M0-NE-C:J05-U01 2005-06-14-10.11.04.476491 R23-M0-NE-C:J05-U01 RAS KERNEL FATAL data TLB error interrupt",
]


def test_bgl_records_carry_header_fields_and_labels():
    records = list(iter_records(BGL_LINES, get_format("BGL"), first_token_rule))
    first, second = records
    assert first.line_no == 1 and first.raw == BGL_LINES[0]
    assert first.content == "instruction cache parity error corrected"
    assert first.timestamp == "2005-06-03-15.42.50.675872"
    assert (first.level, first.component, first.label, first.session) == ("INFO", "KERNEL", 0, None)
    assert (second.level, second.label) == ("FATAL", 1)


def test_zookeeper_timestamp_joins_date_and_time():
    line = "2015-07-29 17:41:44,747 - ERROR [main:QuorumPeer@101] - Unexpected exception"
    (record,) = iter_records([line], get_format("Zookeeper"), level_rule())
    assert record.timestamp == "2015-07-29 17:41:44,747" and record.label == 1


def test_no_rule_gives_unknown_labels():
    (record,) = iter_records(["2024-01-01 10:00:00 INFO web: started"], SIMPLE)
    assert record.label is None and record.component == "web"


def test_blank_lines_are_skipped_and_malformed_lines_reported():
    lines = ["2024-01-01 10:00:00 INFO web: a\n", "\n", "garbage line", "   ", "2024-01-01 10:00:01 WARN db: b\r\n"]
    report = ReadReport()
    records = list(iter_records(lines, SIMPLE, report=report, start_line=10))
    assert [r.line_no for r in records] == [10, 14]
    assert records[1].content == "b"
    assert (report.lines, report.records, report.malformed) == (5, 2, [(12, "garbage line")])


def test_malformed_snippet_is_cut_at_200_characters():
    report = ReadReport()
    list(iter_records(["x" * 500], SIMPLE, report=report))
    assert report.malformed == [(1, "x" * 200)]


def test_strict_raises_with_source_and_line_number():
    with pytest.raises(LogReadError, match=r"app\.log, line 2: does not match format .*'oops'") as info:
        list(iter_records(["2024-01-01 10:00:00 INFO web: a", "oops"], SIMPLE, strict=True, source="app.log"))
    assert info.value.line_no == 2


def test_strip_prefix_removes_the_first_token_from_raw():
    line = "1739398184.41318902 " + BGL_LINES[1]
    (record,) = iter_records([line], get_format("BGL"), first_token_rule, strip_prefix=True)
    assert record.raw == BGL_LINES[1] and record.label == 1


def test_session_regex_sets_the_session():
    lines = ["2024-01-01 10:00:00 INFO dfs: Receiving block blk_-42 src", "2024-01-01 10:00:01 INFO dfs: no block"]
    first, second = iter_records(lines, SIMPLE, session_regex=r"(blk_-?\d+)")
    assert first.session == "blk_-42" and second.session is None


def test_session_of_uses_group_one_or_the_whole_match():
    assert session_of("req 17 blk_5 x", r"blk_(\d+)") == "5"
    assert session_of("req 17 blk_5 x", r"blk_\d+") == "blk_5"
    assert session_of("nothing", r"blk_\d+") is None
    assert session_of("anything", None) is None


def test_a_rule_needing_a_missing_field_is_a_clear_error():
    with pytest.raises(LogReadError, match="reads field 'Label'.*does not have"):
        list(iter_records(["2024-01-01 10:00:00 INFO web: a"], SIMPLE, first_token_rule))


def test_open_text_reads_gzip_and_replaces_bad_bytes(tmp_path):
    plain = tmp_path / "a.log"
    plain.write_bytes(b"caf\xe9 ok\n")
    packed = tmp_path / "b.log.gz"
    packed.write_bytes(gzip.compress(b"zipped line\n"))
    with open_text(plain) as handle:
        assert handle.read() == "caf\ufffd ok\n"
    with open_text(packed) as handle:
        assert handle.read() == "zipped line\n"


def test_read_records_reports_and_tolerates_a_few_bad_lines(tmp_path):
    path = tmp_path / "app.log"
    path.write_text("2024-01-01 10:00:00 INFO web: a\nbad\n2024-01-01 10:00:02 INFO web: c\n\n")
    records, report = read_records(path, SIMPLE)
    assert [r.content for r in records] == ["a", "c"]
    assert report.lines == 4 and report.malformed == [(2, "bad")]


def test_read_records_refuses_a_mostly_unreadable_file(tmp_path):
    path = tmp_path / "other.log"
    path.write_text("2024-01-01 10:00:00 INFO web: a\nnope 1\nnope 2\nnope 3\n")
    with pytest.raises(LogReadError, match=r"other\.log: mostly unreadable: 3 of 4 lines do not match format .*first bad line 2: 'nope 1'"):
        read_records(path, SIMPLE)
    records, report = read_records(path, SIMPLE, max_bad_ratio=0.8)
    assert len(records) == 1 and len(report.malformed) == 3


def test_read_records_strict_stops_at_the_first_bad_line(tmp_path):
    path = tmp_path / "app.log"
    path.write_text("2024-01-01 10:00:00 INFO web: a\nbad\n")
    with pytest.raises(LogReadError, match="line 2"):
        read_records(path, SIMPLE, strict=True)


def test_restore_wazuh_order_sorts_by_offset_stably():
    lines = ["17.300 c", "17.20 a", "18.300 d", "", "16.100 b"]
    assert restore_wazuh_order(lines) == ["17.20 a", "16.100 b", "17.300 c", "18.300 d", ""]


def test_restore_wazuh_order_refuses_lines_without_an_id():
    with pytest.raises(LogReadError, match="line 2.*Wazuh id"):
        restore_wazuh_order(["1.2 a", "plain line"])


def test_read_records_restores_order_and_keeps_line_numbers(tmp_path):
    path = tmp_path / "tb.log.gz"
    prefixed = [f"1739398184.{offset} {line}" for offset, line in ((900, BGL_LINES[1]), (100, BGL_LINES[0]))]
    path.write_bytes(gzip.compress("\n".join(prefixed).encode()))
    records, _ = read_records(path, get_format("BGL"), first_token_rule, strip_prefix=True, restore_order="wazuh")
    assert [(r.line_no, r.label) for r in records] == [(2, 0), (1, 1)]
    assert records[0].raw == BGL_LINES[0]


def test_read_records_refuses_an_unknown_order(tmp_path):
    path = tmp_path / "a.log"
    path.write_text("x\n")
    with pytest.raises(ValueError, match="restore_order"):
        read_records(path, SIMPLE, restore_order="chronological")


def test_read_error_keeps_its_line_number_through_pickling():
    import pickle

    error = pickle.loads(pickle.dumps(LogReadError("a.log, line 7: bad", 7)))
    assert isinstance(error, LogReadError) and error.line_no == 7 and str(error) == "a.log, line 7: bad"
