"""Data sets: the synthetic generator's shape and determinism, padding, caching, the imdb reader."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from rnnbench import datasets
from rnnbench.datasets import imdb, synthetic
from rnnbench.errors import BadInput


@pytest.fixture(scope="module")
def data():
    return synthetic.generate()


def test_imdb_shape(data):
    assert len(data.x_train) == len(data.y_train) == 25_000
    assert len(data.x_test) == len(data.y_test) == 25_000
    lengths = np.array([len(x) for x in data.x_train])
    assert 165 <= np.median(lengths) <= 190  # IMDB: ~178
    assert 225 <= lengths.mean() <= 255  # IMDB: ~239
    assert lengths.max() > 1_500  # long tail
    assert abs(data.y_train.mean() - 0.5) < 0.02
    assert set(np.unique(data.y_train)) == {0, 1}


def test_keras_conventions(data):
    assert all(x[0] == synthetic.START_ID for x in data.x_train[:100])
    ids = np.concatenate(list(data.x_train[:1000]))
    assert ids.min() >= synthetic.START_ID and ids.max() < synthetic.VOCAB_SIZE
    assert not np.isin(ids[ids != synthetic.START_ID], [synthetic.PAD_ID, synthetic.OOV_ID, 3]).any()
    assert isinstance(data.x_train[0], list)


def test_deterministic(data):
    again = synthetic.generate()
    assert again.fingerprint() == data.fingerprint()
    assert synthetic.generate(seed=1).fingerprint() != data.fingerprint()


def test_fingerprint_is_pinned(data):
    """Same arrays on every machine: the generator depends on the PCG64 bit stream only."""
    assert data.fingerprint() == PINNED_FINGERPRINT


PINNED_FINGERPRINT = "b1cb8e19ee1712db5f3e59ae9c61083bd6628bee7218e55dc45fc898c5621bad"


def test_ceiling_rises_with_maxlen_and_beats_majority_vote(data):
    ceilings = [synthetic.bayes_accuracy(datasets.pad_sequences(data.x_test, m), data.word_llr) for m in (50, 100, 200, 500)]
    assert ceilings == sorted(ceilings)
    assert ceilings[-1] - ceilings[1] > 0.05, "maxlen must matter"
    # The Bayes reader weighs each clue; an unweighted vote over the same clues does worse.
    x = datasets.pad_sequences(data.x_test, 500)
    llr = data.word_llr[x]
    vote = np.sign(np.sign(llr).sum(axis=1))
    vote_acc = np.mean(np.where(vote == 0, 0.5, (vote > 0) == (data.y_test == 1)))
    bayes_empirical = np.mean(np.where(llr.sum(axis=1) == 0, 0.5, (llr.sum(axis=1) > 0) == (data.y_test == 1)))
    assert bayes_empirical > vote_acc
    assert abs(bayes_empirical - ceilings[-1]) < 0.01  # the expected-accuracy ceiling matches what is realised


def test_pad_sequences_matches_keras():
    from keras.utils import pad_sequences

    seqs = [[1, 2, 3], [], [4, 5, 6, 7, 8, 9], [7]]
    for maxlen in (1, 4, 10):
        assert np.array_equal(datasets.pad_sequences(seqs, maxlen), pad_sequences(seqs, maxlen=maxlen))


def test_padded_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNBENCH_CACHE", str(tmp_path))
    first = datasets.padded("synthetic", 30)
    files = list(tmp_path.rglob("*.npz"))
    assert len(files) == 1
    mtime = files[0].stat().st_mtime_ns
    second = datasets.padded("synthetic", 30)
    assert files[0].stat().st_mtime_ns == mtime
    assert np.array_equal(first.x_train, second.x_train) and first.x_train.shape == (25_000, 30)
    assert first.x_train.dtype == np.int32 and first.ceiling is not None


def test_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNBENCH_CACHE", str(tmp_path))
    good = datasets.padded("synthetic", 20)
    (f,) = tmp_path.rglob("*.npz")
    f.write_bytes(b"garbage")
    assert np.array_equal(datasets.padded("synthetic", 20).x_test, good.x_test)


def test_unknown_dataset_and_bad_maxlen():
    with pytest.raises(BadInput, match="unknown dataset 'imbd'"):
        datasets.padded("imbd", 10)
    with pytest.raises(BadInput, match="maxlen"):
        datasets.padded("synthetic", 0)


# --- imdb reader -------------------------------------------------------------------------------

def _write_imdb(path, n=6):
    rng = np.random.default_rng(0)
    xs = np.empty(n, dtype=object)
    xs[:] = [list(rng.integers(1, 12_000, size=rng.integers(3, 9))) for _ in range(n)]
    ys = np.arange(n) % 2
    np.savez(path, x_train=xs, y_train=ys, x_test=xs, y_test=ys)
    return xs, ys


def test_imdb_reader_applies_keras_transform(tmp_path):
    path = tmp_path / "imdb.npz"
    xs, ys = _write_imdb(path)
    (x_train, y_train), (x_test, _), digest = imdb.load(path, allow_unverified=True)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    order = np.arange(len(xs))
    np.random.RandomState(113).shuffle(order)
    assert np.array_equal(y_train, ys[order])
    expected = [1] + [w + 3 if w + 3 < 10_000 else 2 for w in xs[order[0]]]
    assert x_train[0] == expected
    assert len(x_test) == len(xs)


def test_imdb_hash_mismatch_refused_and_file_kept(tmp_path):
    path = tmp_path / "imdb.npz"
    _write_imdb(path)
    before = path.read_bytes()
    with pytest.raises(BadInput, match="refusing to unpickle"):
        imdb.load(path)
    assert path.read_bytes() == before


def test_imdb_hash_is_checked_before_unpickling(tmp_path, monkeypatch):
    path = tmp_path / "imdb.npz"
    _write_imdb(path)
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("np.load called before the hash check"))
    with pytest.raises(BadInput):
        imdb.load(path)


def test_imdb_loads_the_very_bytes_it_hashed(tmp_path, monkeypatch):
    """Issue 12, case 14: the file is read once; a file swapped after the check cannot be what is loaded."""
    path = tmp_path / "imdb.npz"
    _write_imdb(path)
    loaded = []
    real_load = np.load
    monkeypatch.setattr(np, "load", lambda source, **k: loaded.append(source) or real_load(source, **k))
    imdb.load(path, allow_unverified=True)
    assert len(loaded) == 1 and not isinstance(loaded[0], (str, type(path)))  # bytes in memory, not the path again


def test_imdb_absent_says_how_to_get_it(tmp_path):
    with pytest.raises(BadInput, match="not found.*rnnbench data fetch imdb"):
        imdb.load()
    with pytest.raises(BadInput, match="does not exist"):
        imdb.load(tmp_path / "missing.npz")


def test_imdb_found_in_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    _write_imdb(tmp_path / "datasets" / "imdb.npz")
    assert imdb.locate() == tmp_path / "datasets" / "imdb.npz"


def test_imdb_corrupt_file(tmp_path):
    path = tmp_path / "imdb.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(BadInput, match="not a readable imdb.npz"):
        imdb.load(path, allow_unverified=True)
    assert path.read_bytes() == b"not a zip"


def test_imdb_padded_through_the_dataset_api(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNBENCH_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "imdb.npz"
    _write_imdb(path)
    with pytest.raises(BadInput, match="sha256"):
        datasets.padded("imdb", 5, data_path=path)
    data = datasets.padded("imdb", 5, data_path=path, allow_unverified=True)
    assert data.x_train.shape == (6, 5) and data.ceiling is None
