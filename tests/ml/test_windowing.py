import numpy as np
import pytest

from ml.windowing import chronological_split, fixed_windows, session_windows, window_label


def test_fixed_windows_size_stride_and_labels():
    events = np.arange(1, 11)
    labels = np.array([0, 0, 0, 1, 0, 0, 0, 0, 0, 0], np.int8)
    w = fixed_windows(events, labels, size=4, stride=4)
    # 0-3, 4-7, and a last window aligned to the end (6-9) so no line is left out
    assert w.first.tolist() == [0, 4, 6]
    assert w.last.tolist() == [3, 7, 9]
    assert w.labels.tolist() == [1, 0, 0]
    assert w.events[0].tolist() == [1, 2, 3, 4]


def test_sliding_windows_with_stride_one():
    w = fixed_windows(np.arange(1, 7), None, size=3, stride=1)
    assert len(w) == 4 and (w.labels == -1).all()


def test_windows_never_cross_a_file_boundary_and_short_files_are_padded():
    w = fixed_windows(np.arange(1, 8), np.zeros(7, np.int8), size=4, stride=4, boundaries=[5])
    assert w.first.tolist() == [0, 1, 5]
    assert w.last.tolist() == [3, 4, 6]
    assert w.events[2].tolist() == [0, 0, 6, 7]  # left padding with the padding row 0


def test_window_label_unknown_when_a_line_is_unknown_and_none_anomalous():
    assert window_label(np.array([0, -1])) == -1
    assert window_label(np.array([1, -1])) == 1
    assert window_label(np.array([0, 0])) == 0


def test_session_windows_group_by_id_and_take_session_labels():
    events = np.array([1, 2, 3, 4, 5])
    sessions = ["blk_1", "blk_2", "blk_1", None, "blk_2"]
    w = session_windows(events, sessions, {"blk_1": 1, "blk_2": 0}, max_len=4)
    assert w.labels.tolist() == [1, 0]
    assert w.events.shape == (2, 2)  # as long as the longest session, at most max_len
    assert w.events[0].tolist() == [1, 3]
    assert w.first.tolist() == [0, 1] and w.last.tolist() == [2, 4]


def test_long_sessions_are_cut_at_max_len():
    w = session_windows(np.arange(1, 8), ["s"] * 7, None, max_len=3)
    assert w.events.tolist() == [[1, 2, 3]] and w.last.tolist() == [6]


def test_session_windows_without_ids_is_an_error():
    with pytest.raises(ValueError, match="session"):
        session_windows(np.array([1]), [None])


def test_chronological_split_leaves_a_gap():
    w = fixed_windows(np.arange(1, 101), np.zeros(100, np.int8), size=10, stride=5)
    pool, test = chronological_split(w, 0.7)
    assert w.last[pool].max() < 70 <= w.first[test].min()
    straddling = set(range(len(w))) - set(pool) - set(test)
    assert straddling  # windows across the cut are dropped
    assert all(w.first[i] < 70 <= w.last[i] for i in straddling)
