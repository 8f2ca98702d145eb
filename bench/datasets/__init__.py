"""Data sets: where each comes from, loading, and the padded arrays a cell trains on (cached).

``padded(name, maxlen)`` is what the cell runner calls: the tutorial's ``pad_sequences`` with
pre-padding and pre-truncation, cached per data set and maxlen as ``.npz`` under the cache directory
(``$RNNBENCH_CACHE``, default ``~/.cache/rnnbench``), written atomically so a killed process never
leaves a half file behind. Padding uses Keras' own ``pad_sequences`` semantics, reimplemented in numpy
so the parent process never imports TensorFlow.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rnnbench.datasets import imdb, synthetic, textfile
from rnnbench.errors import BadInput
from rnnbench.storage.atomic import atomic_write

#: Bumped whenever the synthetic generator changes, so stale caches are never read.
SYNTHETIC_VERSION = 3


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    description: str
    source: str


DATASETS: dict[str, DatasetInfo] = {
    "synthetic": DatasetInfo(
        "synthetic",
        "IMDB-shaped generated reviews (10k vocabulary, 25k/25k) with a known Bayes-optimal ceiling per maxlen",
        f"embedded generator, seed {synthetic.DEFAULT_SEED} (no download)",
    ),
    "imdb": DatasetInfo(
        "imdb",
        "the tutorial's IMDB reviews (keras.datasets.imdb format, 10k most frequent words)",
        "a local imdb.npz, sha256-verified: " + ", ".join(str(p) for p in imdb.candidate_paths()),
    ),
}


@dataclass(frozen=True)
class PaddedData:
    """Arrays a cell trains on, plus what is known about them."""

    dataset: str
    maxlen: int
    x_train: np.ndarray  # (n, maxlen) int32
    y_train: np.ndarray  # (n,) float32
    x_test: np.ndarray
    y_test: np.ndarray
    #: Best expected test accuracy any reader can reach at this maxlen; None when unknown (real data).
    ceiling: float | None
    fingerprint: str
    #: the labels' classes (2: a sigmoid head; more: softmax) and the embedding's input size
    num_classes: int = 2
    vocab_size: int = imdb.NUM_WORDS


def cache_dir() -> Path:
    return Path(os.environ.get("RNNBENCH_CACHE", Path.home() / ".cache" / "rnnbench")).expanduser()


def check_name(name: str) -> DatasetInfo:
    """The built-in data set ``name``; BadInput listing the known ones (a file is not a name here)."""
    try:
        return DATASETS[name]
    except KeyError:
        raise BadInput(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}") from None


def pad_sequences(seqs, maxlen: int) -> np.ndarray:
    """Keras' ``pad_sequences(seqs, maxlen, padding='pre', truncating='pre')`` as int32."""
    out = np.zeros((len(seqs), maxlen), dtype=np.int32)
    for i, seq in enumerate(seqs):
        kept = seq[-maxlen:]
        if len(kept):
            out[i, maxlen - len(kept):] = kept
    return out


def _cached(path: Path, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Read ``path`` if it holds a complete cache, else build, store and return the arrays."""
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        except Exception:
            pass  # a damaged cache entry is ours to rebuild; it never holds user data
    arrays = build()
    atomic_write(path, lambda f: np.savez(f, **arrays))
    return arrays


def _check_unchanged(path: Path, now: str, expected: str | None) -> None:
    if expected is not None and now != expected:
        raise BadInput(f"data file {str(path)!r} changed during the sweep (sha256 {expected[:16]} when the run started, "
                       f"{now[:16]} now): this cell did not train on it; restore the file, or start a new --out with it")


def padded(
    name: str,
    maxlen: int,
    *,
    data_path: str | os.PathLike | None = None,
    allow_unverified: bool = False,
    text_column: str = "text",
    label_column: str = "label",
    expected_fingerprint: str | None = None,
) -> PaddedData:
    """Padded/truncated splits of data set ``name`` (a built-in name or a labelled-text file) at
    ``maxlen``, from the cache when present.

    ``expected_fingerprint`` is the sha256 the sweep took of the file when it started: a file whose bytes
    differ now is BadInput (the cell fails naming the change), never a run that mixes two data sets.
    """
    if not textfile.is_file_dataset(name):
        check_name(name)
    if maxlen < 1:
        raise BadInput(f"maxlen must be a positive integer, got {maxlen}")
    if textfile.is_file_dataset(name):
        # Read (and hashed) on every call: the content, not the path, decides which cache entry is used.
        texts = textfile.read(data_path or name, text_column, label_column)
        _check_unchanged(texts.path, texts.fingerprint, expected_fingerprint)
        key = textfile.cache_key(texts, text_column, label_column)

        def build() -> dict[str, np.ndarray]:
            vocabulary = textfile.fit_vocabulary(texts.train_texts)  # the training split only
            multi = texts.num_classes > 2
            y_type = np.int32 if multi else np.float32
            return {
                "x_train": pad_sequences(textfile.encode(texts.train_texts, vocabulary), maxlen),
                "y_train": texts.train_labels.astype(y_type),
                "x_test": pad_sequences(textfile.encode(texts.test_texts, vocabulary), maxlen),
                "y_test": texts.test_labels.astype(y_type),
                "ceiling": np.float64("nan"),
                "fingerprint": np.str_(texts.fingerprint),
                "num_classes": np.int64(texts.num_classes),
                "vocab_size": np.int64(textfile.vocabulary_size(vocabulary)),
            }
    elif name == "synthetic":
        key = f"synthetic-v{SYNTHETIC_VERSION}-seed{synthetic.DEFAULT_SEED}"

        def build() -> dict[str, np.ndarray]:
            data = synthetic.generate()
            x_test = pad_sequences(data.x_test, maxlen)
            return {
                "x_train": pad_sequences(data.x_train, maxlen),
                "y_train": data.y_train.astype(np.float32),
                "x_test": x_test,
                "y_test": data.y_test.astype(np.float32),
                "ceiling": np.float64(synthetic.bayes_accuracy(x_test, data.word_llr)),
                "fingerprint": np.str_(data.fingerprint()),
            }
    else:
        path = imdb.locate(data_path)
        digest = imdb.verify(path, allow_unverified=allow_unverified)
        _check_unchanged(path, digest, expected_fingerprint)
        key = f"imdb-{digest[:16]}"

        def build() -> dict[str, np.ndarray]:
            (x_train, y_train), (x_test, y_test), _ = imdb.load(path, allow_unverified=allow_unverified)
            return {
                "x_train": pad_sequences(x_train, maxlen),
                "y_train": y_train.astype(np.float32),
                "x_test": pad_sequences(x_test, maxlen),
                "y_test": y_test.astype(np.float32),
                "ceiling": np.float64("nan"),
                "fingerprint": np.str_(digest),
            }

    a = _cached(cache_dir() / key / f"maxlen{maxlen}.npz", build)
    ceiling = float(a["ceiling"])
    return PaddedData(
        name, maxlen, a["x_train"], a["y_train"], a["x_test"], a["y_test"],
        None if np.isnan(ceiling) else ceiling, str(a["fingerprint"]),
        int(a["num_classes"]) if "num_classes" in a else 2, int(a["vocab_size"]) if "vocab_size" in a else imdb.NUM_WORDS,
    )


def cached_entries(name: str) -> list[Path]:
    """Cache files that exist for ``name`` (for ``rnnbench data info``)."""
    check_name(name)
    return sorted(cache_dir().glob(f"{name}-*/*.npz"))
