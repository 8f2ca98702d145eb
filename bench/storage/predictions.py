"""Per-example test predictions: which class a cell predicted for each test example, and whether it was right.

Paired model comparison (bench/verdict/paired.py) needs more than a cell's test accuracy: two models
evaluated on the *same* examples disagree on some of them, and which ones they get right is what
McNemar's test and the example bootstrap use. A cell's predictions are one row of ``predictions.csv``
(bench/storage/schema.py), written through the store with the cell's other long-form rows, before its
``cells.csv`` row commits:

* ``test_fingerprint`` names the examples: the data set's fingerprint, the number of test examples and
  their labels, hashed. Only predictions with equal fingerprints are ever paired; maxlen is not part of
  it (the same reviews, truncated differently, are the same examples).
* ``predicted`` is the class of each example, ``correct`` whether it equals the label, each packed
  (one byte a class, one bit a verdict), zlib-compressed and base64-encoded: 25,000 examples take about
  5 kB. Probabilities are not stored: the paired statistics use correctness, the fast-path check
  agreement of classes, and a float per example would be most of the file.

:meth:`Predictions.from_row` checks a stored row against itself and against its cell's test accuracy,
so a damaged or hand-edited file is one line of bad input, never a wrong verdict.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from rnnbench.errors import BadInput


def split_fingerprint(data_fingerprint: str, y_test: np.ndarray) -> str:
    """The identity of a test split: its data set's fingerprint, its size and its labels."""
    labels = np.asarray(y_test).astype(np.int64)
    digest = hashlib.sha256(f"{data_fingerprint}:{len(labels)}:".encode() + labels.tobytes())
    return digest.hexdigest()[:16]


def digest(row: dict[str, Any]) -> str:
    """A stored predictions row's digest, which its cell's ``predictions_digest`` column commits to: a row
    left by a rerun killed before its new ``cells.csv`` row was written, or edited, does not match."""
    text = f"{row['test_fingerprint']}:{row['examples']}:{row['class_bytes']}:{row['predicted']}:{row['correct']}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _pack(array: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(array.tobytes(), 9)).decode("ascii")


def _unpack(text: str, dtype, where: str, what: str) -> np.ndarray:
    try:
        return np.frombuffer(zlib.decompress(base64.b64decode(text.encode("ascii"), validate=True)), dtype=dtype)
    except (binascii.Error, zlib.error, ValueError, UnicodeEncodeError):
        raise BadInput(f"{where}: damaged {what} (not the harness's packed encoding)") from None


@dataclass(frozen=True)
class Predictions:
    """One cell's predicted class and correctness for each test example of the split ``test_fingerprint``."""

    test_fingerprint: str
    predicted: np.ndarray  # (n,) class index, uint8 or uint16
    correct: np.ndarray  # (n,) bool

    @property
    def examples(self) -> int:
        return len(self.correct)

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.correct)) if self.examples else float("nan")

    @classmethod
    def from_outputs(cls, outputs: np.ndarray, y_test: np.ndarray, data_fingerprint: str) -> Predictions:
        """From a model's outputs on the test split: a sigmoid column (2 classes; class 1 where the
        probability exceeds 0.5, as Keras' binary accuracy decides) or one probability per class (argmax)."""
        outputs = np.asarray(outputs)
        if outputs.ndim == 2 and outputs.shape[1] > 1:
            predicted = np.argmax(outputs, axis=1)
        else:
            predicted = (outputs.reshape(-1) > 0.5).astype(np.int64)
        dtype = np.uint8 if predicted.max(initial=0) < 256 else np.uint16
        labels = np.asarray(y_test).astype(np.int64).reshape(-1)
        return cls(split_fingerprint(data_fingerprint, labels), predicted.astype(dtype), predicted == labels)

    def to_row(self) -> dict[str, Any]:
        """The ``predictions.csv`` fields (less ``cell_id``)."""
        return {"test_fingerprint": self.test_fingerprint, "examples": self.examples,
                "class_bytes": self.predicted.dtype.itemsize,
                "predicted": _pack(self.predicted), "correct": _pack(np.packbits(self.correct))}

    @classmethod
    def from_row(cls, row: dict[str, Any], where: str, cell: dict[str, Any] | None = None) -> Predictions:
        """A stored row read back; BadInput naming ``where`` when it is damaged or does not belong to ``cell``
        (its ``cells.csv`` row: the digest it committed to, and its test accuracy, which must be the share
        of correct examples)."""
        committed = (cell or {}).get("predictions_digest")
        if committed and committed != digest(row):
            raise BadInput(f"{where}: these predictions are not the ones the cell's row committed to (edited, or "
                           "left by a rerun killed before its row was written); rerun the cell with --force")
        test_acc = (cell or {}).get("test_acc")
        try:
            n, width = int(row["examples"]), int(row["class_bytes"])
        except (TypeError, ValueError):
            raise BadInput(f"{where}: damaged predictions (examples {row.get('examples')!r}, "
                           f"class_bytes {row.get('class_bytes')!r})") from None
        if n < 1 or width not in (1, 2) or not row.get("test_fingerprint"):
            raise BadInput(f"{where}: damaged predictions (examples {n}, class_bytes {width}, "
                           f"fingerprint {row.get('test_fingerprint')!r})")
        predicted = _unpack(row["predicted"], np.uint8 if width == 1 else np.uint16, where, "predicted classes")
        bits = _unpack(row["correct"], np.uint8, where, "correctness bits")
        if len(predicted) != n or len(bits) != (n + 7) // 8:
            raise BadInput(f"{where}: damaged predictions ({len(predicted)} classes and {len(bits) * 8} bits "
                           f"for {n} examples)")
        correct = np.unpackbits(bits)[:n].astype(bool)
        found = cls(str(row["test_fingerprint"]), predicted, correct)
        # Accuracies are stored with 6 significant digits: a file of another cell, or edited, is off by more.
        if test_acc is not None and abs(found.accuracy - test_acc) > max(0.5 / n, 1e-5):
            raise BadInput(f"{where}: predictions do not belong to this cell ({found.accuracy:.6g} of the "
                           f"examples correct, its test_acc is {test_acc:.6g})")
        return found
