import numpy as np
import pytest

from ml.parsing import Masker, ParseConfig, TemplateParser, drain3_config


def test_masker_types_variable_fields():
    mask = Masker()
    out = mask("read blk_-1608999687919862906 from 10.250.19.102:50010 at /var/log/app.log size 0x1f3a took 42 ms")
    assert out == "read <BLK> from <IP> at <PATH> size <HEX> took <NUM> ms"


def test_paths_without_digits_are_masked_too():
    assert Masker()("cannot open /etc/app/conf.yaml") == "cannot open <PATH>"


def test_masker_agrees_with_plain_regex_passes():
    import re

    from ml.parsing import MASKS

    lines = ["a 1 b", "no digits here", "x /a/b y", "0xff at 10.0.0.1:80", "blk_-12 deadbeef99 /p/q/7"]
    for line in lines:
        expected = line
        for pattern, repl in MASKS:
            expected = re.sub(pattern, repl, expected)
        assert Masker()(line) == expected


def test_masker_leaves_words_with_digits_alone():
    assert Masker()("node R02-M1-N0 core2 ok") == "node R02-M1-N0 core2 ok"


def test_same_shape_lines_share_a_template():
    p = TemplateParser()
    ids = p.add_many(["job 17 finished in 3 s", "job 18 finished in 9 s", "disk /dev/sda1 full"])
    assert ids[0] == ids[1] != ids[2]
    assert p.templates()[ids[0]] == "job <NUM> finished in <NUM> s"


def test_repeated_contents_skip_the_drain_tree(monkeypatch):
    p = TemplateParser()
    p.add("connection from 10.0.0.1 closed")
    calls = []
    original = p._drain.add_log_message
    monkeypatch.setattr(p._drain, "add_log_message", lambda s: calls.append(s) or original(s))
    p.add("connection from 10.0.0.1 closed")  # same raw content
    p.add("connection from 10.0.0.2 closed")  # same masked content
    assert calls == []


def test_match_is_read_only():
    p = TemplateParser()
    p.add_many(["user alice logged in", "user bob logged in"])
    before = p.templates()
    assert p.match("user carol logged in") == 1
    assert p.match("kernel panic: not syncing") == 0
    assert p.templates() == before
    assert list(p.match_many(["user dan logged in", "totally new"])) == [1, 0]


def test_state_round_trip_keeps_ids_and_templates():
    p = TemplateParser()
    p.add_many(["open /a/b/c failed", "open /x/y/z failed", "service started on port 80"])
    q = TemplateParser.from_bytes(p.to_bytes())
    assert q.templates() == p.templates()
    assert q.add("service started on port 8080") == p.add("service started on port 8080")
    assert len(q) == len(p)


def test_state_rejects_foreign_bytes():
    with pytest.raises(ValueError):
        TemplateParser.from_bytes(b"not a state")


def test_drain3_config_is_explicit():
    cfg = drain3_config(ParseConfig(depth=5, sim_th=0.5))
    assert cfg.drain_depth == 5 and cfg.drain_sim_th == 0.5
    assert len(cfg.masking_instructions) >= 5


def test_add_many_returns_int64():
    ids = TemplateParser().add_many(iter(["a 1", "b 2"]))
    assert ids.dtype == np.int64 and ids.min() >= 1


def test_state_goes_through_a_handed_in_store(tmp_path):
    from drain3.file_persistence import FilePersistence

    store = FilePersistence(str(tmp_path / "drain.bin"))
    assert len(TemplateParser.load(store)) == 0  # empty store: a fresh parser
    p = TemplateParser()
    p.add_many(["worker 3 started", "worker 9 started"])
    p.save(store)
    assert TemplateParser.load(store).templates() == p.templates()
