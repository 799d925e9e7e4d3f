"""Label rules and session-label files."""

import pytest

from ml.labels import column_rule, first_token_rule, label_rule_from_spec, level_rule, load_session_labels


def test_first_token_rule():
    assert first_token_rule({"Label": "-"}) == 0
    assert first_token_rule({"Label": "KERNDTLB"}) == 1
    with pytest.raises(KeyError):
        first_token_rule({"Level": "INFO"})


def test_level_rule_default_is_error_only():
    rule = level_rule()
    assert rule({"Level": "ERROR"}) == 1
    assert rule({"Level": "WARN"}) == 0
    assert rule({"Level": "INFO"}) == 0


def test_level_rule_custom_levels_ignore_case():
    rule = level_rule(("error", "FATAL"))
    assert rule({"Level": "Fatal"}) == 1 and rule({"Level": " ERROR "}) == 1 and rule({"Level": "WARN"}) == 0


def test_level_rule_needs_a_level():
    with pytest.raises(ValueError):
        level_rule(())


def test_column_rule_default_reads_normal_spellings():
    rule = column_rule("Label")
    assert [rule({"Label": v}) for v in ("-", "0", "Normal", "false", "APPSEV", "1", "Anomaly")] == [0, 0, 0, 0, 1, 1, 1]


def test_column_rule_with_anomalous_values():
    rule = column_rule("Label", anomalous=["1", "true"])
    assert rule({"Label": "TRUE"}) == 1 and rule({"Label": "1"}) == 1 and rule({"Label": "x"}) == 0


def test_column_rule_with_normal_values():
    rule = column_rule("Status", normal=["ok"])
    assert rule({"Status": "OK"}) == 0 and rule({"Status": "broken"}) == 1


def test_column_rule_with_both_sets_leaves_others_unknown():
    rule = column_rule("Status", anomalous=["bad"], normal=["ok"])
    assert rule({"Status": "bad"}) == 1 and rule({"Status": "ok"}) == 0 and rule({"Status": "meh"}) is None


@pytest.mark.parametrize("spec, fields, expected", [
    ("first_token", {"Label": "VAPI"}, 1),
    ("FIRST_TOKEN", {"Label": "-"}, 0),
    ("level", {"Level": "ERROR"}, 1),
    ("level", {"Level": "WARN"}, 0),
    ("level:ERROR,FATAL", {"Level": "FATAL"}, 1),
    ("level:ERROR,FATAL", {"Level": "WARN"}, 0),
    ("column:Label", {"Label": "-"}, 0),
    ("column:Label", {"Label": "APPREAD"}, 1),
    ("column:Label=1,true", {"Label": "true"}, 1),
    ("column:Label=1,true", {"Label": "0"}, 0),
])
def test_label_rule_from_spec(spec, fields, expected):
    assert label_rule_from_spec(spec)(fields) == expected


@pytest.mark.parametrize("spec", [None, "none", "None", " "])
def test_label_rule_from_spec_none(spec):
    assert label_rule_from_spec(spec) is None


@pytest.mark.parametrize("spec", ["bogus", "column", "column:", "column:=1", "first_token:x", "session_file"])
def test_label_rule_from_spec_refuses_unknown_specs(spec):
    with pytest.raises(ValueError, match="unknown label rule.*first_token"):
        label_rule_from_spec(spec)


def test_load_session_labels_hdfs_style(tmp_path):
    path = tmp_path / "anomaly_label.csv"
    path.write_text("BlockId,Label\nblk_-1608999687919862906,Normal\nblk_7503483334202473044,Anomaly\n")
    assert load_session_labels(path) == {"blk_-1608999687919862906": 0, "blk_7503483334202473044": 1}


def test_load_session_labels_named_columns_and_spellings(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("label,id,note\n1,a,x\n0,b,y\ntrue,c,z\nFALSE,d,w\n\n")
    assert load_session_labels(path) == {"a": 1, "b": 0, "c": 1, "d": 0}


@pytest.mark.parametrize("text, words", [
    ("id,label\na,1\nb,maybe\n", "line 3.*maybe"),
    ("id,label\na,1\nb\n", "line 3"),
    ("id,label\na,1\na,0\n", "line 3.*twice"),
    ("a,1\nb,0\n", "line 1.*header"),
    ("", "empty"),
])
def test_load_session_labels_names_the_bad_line(tmp_path, text, words):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=words):
        load_session_labels(path)
