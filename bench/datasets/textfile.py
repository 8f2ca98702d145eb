"""A user's own labelled texts: ``--dataset reviews.csv`` (or ``.tsv``, ``.jsonl``).

The file holds one example per row with a text column and an integer label column (``text`` and
``label`` unless the sweep says otherwise) and, optionally, a ``split`` column whose values are
``train`` or ``test``. Without one, a stratified split seeded with :data:`SPLIT_SEED` holds out
:data:`TEST_FRACTION` of every class for test, so every cell and every run sees the same split. Both
splits are then put in a seeded shuffled order, as Keras' IMDB loader does.

Texts become word ids the way Keras' ``TextVectorization`` does with its defaults (checked against it
in the tests): ASCII lowercasing (``tf.strings.lower`` leaves other letters alone), the punctuation of
its default strip pattern removed, a split on ASCII whitespace, and a vocabulary fitted on the training
split only: id 0 is padding, 1 the out-of-vocabulary token, then the most frequent words (ties broken
as Keras breaks them, by the word's bytes, descending) up to the vocabulary size, which counts those two
reserved ids. The vocabulary size is the tutorial's 10,000 or, for a small file, the words its training
split has plus the two reserved ids, so a model does not carry embedding rows no word can reach.

Labels are integers. Two distinct values make a binary task (the smaller is class 0: a sigmoid head
with binary cross-entropy, as the tutorial's); more make a multi-class one (class ``i`` is the ``i``-th
smallest value: a softmax head with sparse categorical cross-entropy).

Every problem with the file is a :class:`BadInput` naming the file and, where it applies, the line.
The file's sha256 is the data set's fingerprint: it is recorded in ``run.json`` and keys the cache.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rnnbench.errors import BadInput

SUFFIXES = (".csv", ".tsv", ".jsonl")
#: Share of each class held out for test when the file has no ``split`` column.
TEST_FRACTION = 0.2
#: Seed of that split: fixed, not the cell's seed, so that seeds vary the model and never the data.
SPLIT_SEED = 0
#: Vocabulary size including the padding and out-of-vocabulary ids: the tutorial's ``num_words``.
MAX_VOCAB = 10_000
PAD_ID, OOV_ID = 0, 1
#: Bumped whenever tokenising or splitting changes, so stale caches are never read.
TOKENIZER_VERSION = 1

# Keras TextVectorization's default strip pattern (keras/src/layers/preprocessing/text_vectorization.py).
_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
# tf.strings.split without a separator splits on ASCII whitespace only (a no-break space is part of a word).
_WHITESPACE = re.compile(r"[ \t\n\v\f\r]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_INTEGER = re.compile(r"^\s*[+-]?\d+\s*$")


def is_file_dataset(name: str) -> bool:
    """Whether a ``dataset`` setting names a file of labelled texts rather than a built-in data set."""
    return isinstance(name, str) and name.lower().endswith(SUFFIXES)


@dataclass(frozen=True)
class LabelledTexts:
    """A file's examples, validated and split; labels already mapped to class indices."""

    path: Path
    fingerprint: str  # sha256 of the file's bytes
    train_texts: tuple[str, ...]
    train_labels: np.ndarray  # (n,) int64 class indices
    test_texts: tuple[str, ...]
    test_labels: np.ndarray
    #: the label values as written in the file; class i is classes[i]
    classes: tuple[int, ...]
    #: where the split came from: "split column" or "stratified, seed 0, 20% test"
    split: str

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def standardize(text: str) -> list[str]:
    """``text`` as Keras' default ``TextVectorization`` splits it into words."""
    return [w for w in _WHITESPACE.split(_PUNCTUATION.sub("", text.translate(_ASCII_LOWER))) if w]


def fit_vocabulary(texts, max_tokens: int = MAX_VOCAB) -> dict[str, int]:
    """Word -> id for the ``max_tokens - 2`` most frequent words of ``texts`` (ids from 2)."""
    counts = Counter(w for t in texts for w in standardize(t))
    # Keras sorts by (count, token bytes) and reverses: most frequent first, ties by bytes descending.
    ranked = sorted(counts.items(), key=lambda kv: (kv[1], kv[0].encode("utf-8")), reverse=True)
    return {w: i for i, (w, _) in enumerate(ranked[: max_tokens - 2], start=2)}


def encode(texts, vocabulary: dict[str, int]) -> list[list[int]]:
    """Each text's word ids; a word outside ``vocabulary`` is the out-of-vocabulary id."""
    return [[vocabulary.get(w, OOV_ID) for w in standardize(t)] for t in texts]


def _decoded(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")  # a byte-order mark, as spreadsheets write, is not part of the text
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BadInput(f"data file {str(path)!r}, line {line}: bytes that are not UTF-8 ({exc.reason} at byte {exc.start})") from None


def _records(path: Path, text: str, text_column: str, label_column: str):
    """(line, text, label, split) per example; BadInput for the file's structural problems."""
    where = f"data file {str(path)!r}"
    if path.suffix.lower() == ".jsonl":
        seen_any = False
        # JSON Lines are split on "\n" only: str.splitlines() also splits on U+2028, U+0085 and others,
        # which JSON allows raw inside a string.
        for line_no, line in enumerate(text.split("\n"), start=1):
            line = line.removesuffix("\r")
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInput(f"{where}, line {line_no}: not a JSON object ({exc.msg})") from None
            except RecursionError:
                raise BadInput(f"{where}, line {line_no}: JSON nested too deeply to read") from None
            except ValueError:  # an integer of more digits than Python converts
                raise BadInput(f"{where}, line {line_no}: a number of more digits than can be read") from None
            if not isinstance(obj, dict):
                raise BadInput(f"{where}, line {line_no}: expected a JSON object, got {type(obj).__name__}")
            for column in (text_column, label_column):
                if column not in obj:
                    kind = "missing column" if not seen_any else "missing field"
                    raise BadInput(f"{where}, line {line_no}: {kind} {column!r} (fields: {', '.join(map(str, obj)) or 'none'})")
            seen_any = True
            yield line_no, obj[text_column], obj[label_column], obj.get("split")
        return
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return
        header = [h.strip() for h in header]
        twice = sorted({h for h in header if header.count(h) > 1 and h})
        if twice:
            raise BadInput(f"{where}: column {twice[0]!r} appears more than once in the header ({', '.join(header)}); "
                           "which one to read would be a guess")
        missing = [c for c in (text_column, label_column) if c not in header]
        if missing:
            raise BadInput(f"{where}: missing column {missing[0]!r} (columns: {', '.join(header)}); "
                           "name the columns with --text-column / --label-column")
        t, lab = header.index(text_column), header.index(label_column)
        s = header.index("split") if "split" in header else None
        for row in reader:
            if not row:  # csv gives [] for an empty line
                continue
            if len(row) != len(header):
                raise BadInput(f"{where}, line {reader.line_num}: {len(row)} fields, the header has {len(header)}")
            yield reader.line_num, row[t], row[lab], None if s is None else row[s]
    except csv.Error as exc:
        raise BadInput(f"{where}, line {reader.line_num}: not valid {'TSV' if delimiter == chr(9) else 'CSV'} ({exc})") from None


#: A label is a class number; one of more digits than int64 holds is damage, and Python's int() would
#: refuse one of over 4,300 digits with an error that is not the user's.
MAX_LABEL_DIGITS = 18


def _label(where: str, line: int, value) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise BadInput(f"{where}, line {line}: missing label")
    if isinstance(value, bool):
        raise BadInput(f"{where}, line {line}: label {json.dumps(value)} is a boolean, not an integer class")
    if isinstance(value, int):
        if len(str(abs(value))) > MAX_LABEL_DIGITS:
            raise BadInput(f"{where}, line {line}: label of more than {MAX_LABEL_DIGITS} digits")
        return value
    if isinstance(value, str) and _INTEGER.match(value):
        if len(value.strip().lstrip("+-")) > MAX_LABEL_DIGITS:
            raise BadInput(f"{where}, line {line}: label of more than {MAX_LABEL_DIGITS} digits")
        return int(value)
    shown = value if not isinstance(value, str) or len(value) <= 40 else value[:40] + "..."
    raise BadInput(f"{where}, line {line}: label {shown!r} is not an integer")


#: The largest data file read (IMDB as text is about 130 MB): a device or a runaway file is refused, not
#: read until memory runs out.
MAX_FILE_BYTES = 2 * 2**30


def _read_regular_file(p: Path, where: str) -> bytes:
    """The bytes of ``p``, a regular file (a symlink is followed) of at most MAX_FILE_BYTES; BadInput for a
    FIFO, device or folder (which would block or never end) and for a file too large."""
    try:
        info = p.stat()
    except FileNotFoundError:
        raise BadInput(f"{where} does not exist") from None
    except OSError as exc:
        raise BadInput(f"{where} cannot be read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = ("a folder" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(info.st_mode)
                else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "not a regular file")
        raise BadInput(f"{where} is {kind}, not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        raise BadInput(f"{where} is {info.st_size / 2**30:.1f} GiB, over the {MAX_FILE_BYTES / 2**30:.0f} GiB a data file may be")
    try:
        with open(p, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)  # a file growing while read is bounded too
    except OSError as exc:
        raise BadInput(f"{where} cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise BadInput(f"{where} grew past the {MAX_FILE_BYTES / 2**30:.0f} GiB a data file may be while it was read")
    return data


def read(path: str | Path, text_column: str = "text", label_column: str = "label") -> LabelledTexts:
    """Read, validate and split a labelled-text file; BadInput naming the file (and line) on any problem."""
    p = Path(path).expanduser()
    where = f"data file {str(p)!r}"
    if not p.name.lower().endswith(SUFFIXES):
        raise BadInput(f"{where}: unsupported file type; use one of {', '.join(SUFFIXES)}")
    data = _read_regular_file(p, where)
    if not data.strip():
        raise BadInput(f"{where} is empty")
    rows = []
    for line, text, raw_label, split in _records(p, _decoded(p, data), text_column, label_column):
        if not isinstance(text, str):
            raise BadInput(f"{where}, line {line}: text is {type(text).__name__}, not a string")
        if not text.strip():
            raise BadInput(f"{where}, line {line}: empty text")
        label = _label(where, line, raw_label)
        if split is not None:
            split = split.strip().lower() if isinstance(split, str) else split
            if split not in ("train", "test"):
                raise BadInput(f"{where}, line {line}: split {split!r} is neither 'train' nor 'test'")
        rows.append((line, text, label, split))
    if not rows:
        raise BadInput(f"{where} has no examples, only a header")
    classes = tuple(sorted({r[2] for r in rows}))
    if len(classes) < 2:
        raise BadInput(f"{where}: every example has label {classes[0]}; a classifier needs two classes or more")
    index = {c: i for i, c in enumerate(classes)}
    labels = np.array([index[r[2]] for r in rows], dtype=np.int64)
    splits = [r[3] for r in rows]
    if any(s is not None for s in splits):
        if any(s is None for s in splits):
            line = next(r[0] for r in rows if r[3] is None)
            raise BadInput(f"{where}, line {line}: no split value where other lines have one")
        test = np.array([s == "test" for s in splits])
        how = "split column"
    else:
        test = _stratified_test_mask(labels)
        how = f"stratified, seed {SPLIT_SEED}, {TEST_FRACTION:.0%} test"
    for name, mask in (("training", ~test), ("test", test)):
        if not mask.any():
            raise BadInput(f"{where}: the {name} split is empty")
    if len(set(labels[~test].tolist())) < 2:
        raise BadInput(f"{where}: the training split has one class only")
    # Each split in a seeded shuffled order, as Keras' IMDB loader shuffles: a file sorted by label would
    # otherwise give Keras' validation_split (the last 20% of the training data) one class only, and a
    # --train-samples / --test-samples subset (the first N) likewise.
    rng = np.random.default_rng(SPLIT_SEED + 1)
    train_idx, test_idx = rng.permutation(np.flatnonzero(~test)), rng.permutation(np.flatnonzero(test))
    texts = [r[1] for r in rows]
    return LabelledTexts(
        p, hashlib.sha256(data).hexdigest(),
        tuple(texts[i] for i in train_idx), labels[train_idx],
        tuple(texts[i] for i in test_idx), labels[test_idx], classes, how,
    )


def _stratified_test_mask(labels: np.ndarray) -> np.ndarray:
    """Hold out ``TEST_FRACTION`` of every class (at least one example of a class with two or more)."""
    rng = np.random.default_rng(SPLIT_SEED)
    test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        k = int(round(len(members) * TEST_FRACTION))
        if len(members) >= 2:
            k = min(max(k, 1), len(members) - 1)
        else:
            k = 0
        test[rng.permutation(members)[:k]] = True
    return test


def vocabulary_size(vocabulary: dict[str, int]) -> int:
    """The embedding's input size for ``vocabulary``: its words plus the padding and out-of-vocabulary ids."""
    return len(vocabulary) + 2


def cache_key(texts: LabelledTexts, text_column: str, label_column: str) -> str:
    """The cache entry's name: the file's content and the columns read from it."""
    columns = hashlib.sha256(json.dumps([text_column, label_column, TOKENIZER_VERSION]).encode()).hexdigest()[:8]
    return f"file-{texts.fingerprint[:16]}-{columns}"


def summary(texts: LabelledTexts) -> list[str]:
    """What ``rnnbench data info FILE`` says of a file: size, classes per split, vocabulary, lengths."""
    vocabulary = fit_vocabulary(texts.train_texts)
    words = Counter(w for t in texts.train_texts for w in standardize(t))
    lengths = np.array([len(standardize(t)) for t in (*texts.train_texts, *texts.test_texts)])
    per_class = ", ".join(
        f"{c}: {int((texts.train_labels == i).sum())}/{int((texts.test_labels == i).sum())}" for i, c in enumerate(texts.classes))
    head = "sigmoid, binary cross-entropy" if texts.num_classes == 2 else "softmax, sparse categorical cross-entropy"
    return [
        f"{texts.path}: {len(texts.train_texts)} train / {len(texts.test_texts)} test examples ({texts.split})",
        f"classes: {texts.num_classes} ({head}); examples per class, train/test: {per_class}",
        f"vocabulary: {len(words)} distinct words in the training split, {len(vocabulary)} kept "
        f"(embedding input size {vocabulary_size(vocabulary)})",
        f"words per text: median {np.median(lengths):.0f}, 95th percentile {np.percentile(lengths, 95):.0f}, "
        f"max {lengths.max()} (maxlen keeps the last maxlen words of each)",
        f"fingerprint (sha256): {texts.fingerprint}",
    ]
