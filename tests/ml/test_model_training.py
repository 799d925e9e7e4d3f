"""Training, scoring, saving: small networks on small synthetic windows so the suite stays fast."""
import numpy as np
import pytest

from ml.active import per_round_budget, run_rounds
from ml.artifacts import bundle_from_bytes, bundle_to_bytes, load_bundle, save_bundle
from ml.evaluate import detection_metrics
from ml.model import ModelConfig
from ml.training import TrainConfig, class_weights, fine_tune, score, train_base

SMALL = ModelConfig(hidden=16, vector_dim=16, clf_hidden=8)


def toy_windows(n, rng, anomalous_row=3, size=6, rate=0.3):
    """Windows over rows 1-2 (normal events); anomalous ones hold ``anomalous_row`` somewhere."""
    events = rng.integers(1, 3, (n, size))
    labels = (rng.random(n) < rate).astype(np.int8)
    pos = rng.integers(0, size, n)
    events[labels == 1, pos[labels == 1]] = anomalous_row
    return events, labels


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(0)
    t = rng.normal(size=(5, 8)).astype(np.float32)
    t[0] = 0
    return t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-9)


@pytest.fixture(scope="module")
def base(table):
    rng = np.random.default_rng(1)
    x, y = toy_windows(400, rng)
    return train_base(table, x, y, None, SMALL, TrainConfig(epochs=30, batch_size=64, seed=3, device="cpu"))


def test_base_model_learns_the_source(base):
    rng = np.random.default_rng(2)
    x, y = toy_windows(200, rng)
    s = score(base, x, device="cpu")
    assert detection_metrics(y, s.predictions()).f1 > 0.9
    assert s.vectors.shape == (200, SMALL.vector_dim)
    assert np.allclose(s.uncertainty, np.abs(1 - 2 * s.p_anomaly), atol=1e-6)


def test_training_is_deterministic_for_a_seed(table):
    rng = np.random.default_rng(1)
    x, y = toy_windows(100, rng)
    cfg = TrainConfig(epochs=2, batch_size=32, seed=7, device="cpu")
    a = score(train_base(table, x, y, x, SMALL, cfg), x, device="cpu")
    b = score(train_base(table, x, y, x, SMALL, cfg), x, device="cpu")
    assert np.array_equal(a.p_anomaly, b.p_anomaly)
    assert np.array_equal(a.free_energy, b.free_energy)


def test_fine_tune_adapts_to_target_anomalies_and_leaves_the_input_alone(table, base):
    rng = np.random.default_rng(4)
    src_x, src_y = toy_windows(400, np.random.default_rng(1))
    # In the target, row 4 is the anomaly the source never showed.
    tx, ty = toy_windows(60, rng, anomalous_row=4)
    before = {k: v.clone() for k, v in base.state.items()}
    tuned = fine_tune(base, src_x, src_y, tx, ty, None, TrainConfig(finetune_steps=200, batch_size=64, seed=0,
                                                                    device="cpu"))
    test_x, test_y = toy_windows(200, np.random.default_rng(5), anomalous_row=4)
    tuned_f1 = detection_metrics(test_y, score(tuned, test_x).predictions()).f1
    base_f1 = detection_metrics(test_y, score(base, test_x).predictions()).f1
    assert tuned_f1 > 0.95 and tuned_f1 > base_f1 + 0.05
    assert all((before[k] == v).all() for k, v in base.state.items())
    assert tuned.meta["rounds"] == 1 and tuned.meta["target_labels"] == 60


def test_base_training_needs_both_classes(table):
    x = np.ones((10, 4), np.int64)
    with pytest.raises(ValueError, match="both"):
        train_base(table, x, np.zeros(10, np.int8), None, SMALL, TrainConfig(device="cpu"))


def test_class_weights_balance_totals():
    w = class_weights(np.array([0, 0, 0, 1]))
    assert w[:3].sum() == pytest.approx(w[3:].sum())


def test_save_load_round_trip_is_atomic_and_hashed(tmp_path, base):
    path = tmp_path / "models" / "v1.pt"
    digest = save_bundle(base, path)
    assert len(digest) == 64 and [p.name for p in path.parent.iterdir()] == ["v1.pt"]  # no temp file left
    loaded = load_bundle(path, expected_sha256=digest)
    x = np.random.default_rng(0).integers(1, 4, (20, 6))
    assert np.allclose(score(loaded, x).p_anomaly, score(base, x).p_anomaly)
    assert loaded.model_config == base.model_config
    with pytest.raises(ValueError, match="hash"):
        load_bundle(path, expected_sha256="0" * 64)
    assert bundle_from_bytes(bundle_to_bytes(base)).threshold == base.threshold


def test_loading_rejects_other_blobs():
    import io

    import torch

    buf = io.BytesIO()
    torch.save({"format": "something-else"}, buf)
    with pytest.raises(ValueError, match="not a LogAction model"):
        bundle_from_bytes(buf.getvalue())


def test_round_budgets_add_up():
    assert per_round_budget(1000, 0.02, 2) == [10, 10]
    assert per_round_budget(1001, 0.015, 2) == [8, 7]
    assert per_round_budget(10, 0.02, 2) == []


def test_rounds_ask_the_oracle_only_for_picked_windows(table, base):
    src_x, src_y = toy_windows(400, np.random.default_rng(1))
    pool_x, pool_y = toy_windows(300, np.random.default_rng(6), anomalous_row=4)
    asked = []

    def oracle(idx):
        asked.extend(idx.tolist())
        return pool_y[idx]

    _, state, history = run_rounds(base, source=(src_x, src_y), pool=pool_x, oracle=oracle, budgets=[6, 6],
                                   coverage=0.5, train_config=TrainConfig(finetune_steps=10, batch_size=64,
                                                                          device="cpu"))
    assert len(asked) == 12 == len(set(asked)) == len(state.labeled)
    assert [h.labels_total for h in history] == [6, 12]


def test_metrics_by_hand():
    m = detection_metrics(np.array([1, 1, 0, 0, 1]), np.array([1, 0, 1, 0, 1]))
    assert (m.tp, m.fp, m.fn, m.tn) == (2, 1, 1, 1)
    assert m.precision == pytest.approx(2 / 3) and m.recall == pytest.approx(2 / 3)
    assert detection_metrics(np.array([0, 0]), np.array([0, 0])).f1 == 0.0


def test_rounds_without_transfer_start_from_the_bought_labels(table):
    pool_x, pool_y = toy_windows(300, np.random.default_rng(6), anomalous_row=4, rate=0.4)
    empty = (pool_x[:0], pool_y[:0])
    final, state, history = run_rounds(None, source=empty, pool=pool_x, oracle=lambda i: pool_y[i],
                                       budgets=[20, 20], table=table, model_config=SMALL,
                                       train_config=TrainConfig(epochs=5, finetune_steps=20, batch_size=64,
                                                                device="cpu"))
    assert len(state.labels) == 40 and final is not None
    assert history[-1].bundle is final
