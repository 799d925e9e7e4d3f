"""The real packaged MiniLM model, loaded offline."""
import numpy as np
import pytest

from ml.embedding import TemplateEmbedder, pick_device, readable, template_hash


@pytest.fixture(scope="module")
def embedder(tmp_path_factory):
    return TemplateEmbedder(device="cpu", cache_dir=tmp_path_factory.mktemp("emb"))


def test_vectors_are_384d_and_normalised(embedder):
    v = embedder.embed(["connection refused by <IP>", "out of memory: kill process <NUM>"])
    assert v.shape == (2, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_meaning_is_closer_than_wording(embedder):
    a, b, c = embedder.embed(["connection refused", "java.net.ConnectException: Connection refused",
                              "temperature sensor returned to normal"])
    assert a @ b > a @ c


def test_each_text_is_computed_once_and_cached_on_disk(embedder, monkeypatch):
    first = embedder.embed(["disk full on <PATH>"])
    calls = []
    original = embedder._compute
    monkeypatch.setattr(embedder, "_compute", lambda texts, progress: calls.append(texts) or original(texts, progress))
    again = embedder.embed(["disk full on <PATH>", "disk full on <PATH>"])
    assert calls == [] and np.allclose(again[0], first[0])
    fresh = TemplateEmbedder(device="cpu", cache_dir=embedder._cache.path.parent)
    assert np.allclose(fresh._lookup(template_hash("disk full on <PATH>")), first[0])


def test_placeholders_become_plain_words():
    assert readable("open <PATH> failed after <NUM> tries <*>") == "open var failed after var tries var"


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        TemplateEmbedder(str(tmp_path / "nope")).embed(["x"])


def test_device_choice():
    assert pick_device("cpu") == "cpu"
    assert pick_device("auto") in ("cpu", "cuda")
