"""A user's own labelled texts: reading, validation (one line per bad file), tokenising like Keras, splits."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rnnbench import datasets
from rnnbench.cli import main
from rnnbench.datasets import textfile
from rnnbench.errors import BadInput


def _csv(path, rows, header="text,label"):
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _balanced(n=40):
    return [f'"a good film, number {i}",1' if i % 2 else f"a bad film number {i},0" for i in range(n)]


SENTENCES = [
    "The film, the PLOT... it's great!",
    "Été ÜBER café — naïve\u00a0word   tab\there",
    "b a c b a zeta alpha",
    "x-y z_w don't (really) [sure] {ok} 'quoted' \"double\" 100% #1 @home a+b=c; x/y\\z ~ ^",
]


def test_tokenizer_gives_the_word_ids_keras_textvectorization_gives():
    keras = pytest.importorskip("keras")
    max_tokens = 14  # fewer than the distinct words: the cut and the tie order both matter
    layer = keras.layers.TextVectorization(max_tokens=max_tokens)
    layer.adapt(SENTENCES)
    ours = textfile.fit_vocabulary(SENTENCES, max_tokens)
    theirs = layer.get_vocabulary()
    assert ["", "[UNK]", *sorted(ours, key=ours.get)] == [str(w) for w in theirs]
    expected = layer(SENTENCES + ["unseen words the a"]).numpy()
    for row, ids in zip(expected, textfile.encode(SENTENCES + ["unseen words the a"], ours), strict=True):
        assert list(row[: len(ids)]) == ids and not row[len(ids):].any()


def test_standardize_lowercases_ascii_only_and_splits_on_ascii_whitespace():
    assert textfile.standardize("ÉTÉ Don't\u00a0stop\tNOW!") == ["ÉtÉ", "dont\u00a0stop", "now"]


def test_a_csv_without_a_split_column_is_split_stratified_and_seeded(tmp_path):
    rows = [f"text {i},{i % 3}" for i in range(100)]
    path = _csv(tmp_path / "d.csv", rows)
    a, b = textfile.read(path), textfile.read(path)
    assert a.classes == (0, 1, 2) and a.num_classes == 3
    assert a.train_texts == b.train_texts and a.test_texts == b.test_texts  # the same split every time
    # 20% of every class held out: 34/33/33 rows -> 7/7/7 test rows
    assert np.bincount(a.test_labels).tolist() == [7, 7, 7]
    assert len(a.train_texts) + len(a.test_texts) == 100
    assert not set(a.train_texts) & set(a.test_texts)
    assert a.fingerprint == __import__("hashlib").sha256(path.read_bytes()).hexdigest()


def test_a_split_column_decides_the_split_and_labels_map_to_sorted_classes(tmp_path):
    rows = [f"t {i},{[5, 9][i % 2]},{'test' if i < 4 else 'Train'}" for i in range(20)]
    data = textfile.read(_csv(tmp_path / "d.csv", rows, header="text,label,split"))
    assert data.classes == (5, 9) and len(data.test_texts) == 4 and data.split == "split column"
    assert sorted(data.test_labels.tolist()) == [0, 0, 1, 1]


def test_tsv_and_jsonl_with_other_column_names(tmp_path):
    tsv = tmp_path / "d.tsv"
    tsv.write_text("review\tstars\n" + "".join(f"words {i}\t{i % 2}\n" for i in range(20)))
    assert textfile.read(tsv, "review", "stars").num_classes == 2
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("".join(json.dumps({"body": f"w {i}", "y": i % 2}) + "\n" for i in range(20)))
    data = textfile.read(jsonl, "body", "y")
    assert len(data.train_texts) == 16 and len(data.test_texts) == 4


BAD_FILES = [
    # (file name, bytes, words the one line must hold)
    ("empty.csv", b"", ["is empty"]),
    ("header.csv", b"text,label\n", ["no examples"]),
    ("cols.csv", b"body,label\nx,1\n", ["missing column 'text'", "--text-column"]),
    ("emptytext.csv", b"text,label\nfine,1\n  ,0\n", ["line 3", "empty text"]),
    ("oneclass.csv", b"text,label\na,1\nb,1\n", ["label 1", "two classes"]),
    ("nolabel.csv", b"text,label\na,1\nb,\n", ["line 3", "missing label"]),
    ("float.csv", b"text,label\na,1\nb,0.5\n", ["line 3", "'0.5' is not an integer"]),
    ("word.csv", b"text,label\na,pos\nb,neg\n", ["line 2", "'pos' is not an integer"]),
    ("latin1.csv", b"text,label\na,1\nb,0\ncaf\xe9,1\n", ["line 4", "not UTF-8"]),
    ("ragged.csv", b"text,label\na,1\nb,0,extra\n", ["line 3", "3 fields", "header has 2"]),
    ("split.csv", b"text,label,split\na,1,train\nb,0,dev\n", ["line 3", "'dev'"]),
    ("quote.csv", b'text,label\n"a,1\n', ["not valid CSV"]),
    ("bad.jsonl", b'{"text": "a", "label": 1}\nnot json\n', ["line 2", "not a JSON object"]),
    ("field.jsonl", b'{"text": "a", "label": 1}\n{"text": "b"}\n', ["line 2", "'label'"]),
    ("list.jsonl", b'[1, 2]\n', ["line 1", "expected a JSON object"]),
    ("notext.jsonl", b'{"text": 3, "label": 1}\n', ["line 1", "not a string"]),
    ("bool.jsonl", b'{"text": "a", "label": true}\n{"text": "b", "label": 0}\n', ["line 1", "label true is a boolean"]),
    ("reviews.txt", b"text,label\na,1\n", ["unsupported file type"]),
]


@pytest.mark.parametrize("name, content, words", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_every_bad_file_is_one_line_naming_the_file(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(BadInput) as err:
        textfile.read(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    for w in words:
        assert w in message


def test_a_missing_file_is_one_line(tmp_path):
    with pytest.raises(BadInput, match="does not exist"):
        textfile.read(tmp_path / "nope.csv")


@pytest.mark.parametrize("name, content, words", BAD_FILES[:6], ids=[b[0] for b in BAD_FILES[:6]])
def test_run_on_a_bad_file_exits_2_with_one_line_before_anything_runs(tmp_path, capsys, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    out = tmp_path / "run"
    code = main(["run", "--dataset", str(path), "--models", "lstm", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and str(path) in err
    assert not (out / "cells.csv").exists()


def test_padded_file_data_carries_its_vocabulary_and_classes(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNBENCH_CACHE", str(tmp_path / "cache"))
    path = _csv(tmp_path / "d.csv", [f"w{i % 7} common {i},{i % 3}" for i in range(60)])
    data = datasets.padded(str(path), 5, data_path=str(path))
    # words of the training split: common, w0..w6 and the numbers left in training (48 of 60)
    assert data.num_classes == 3 and data.vocab_size == 2 + 1 + 7 + 48
    assert data.x_train.shape == (48, 5) and data.y_train.dtype == np.int32
    assert data.ceiling is None and data.fingerprint == textfile.read(path).fingerprint
    # the test split's own numbers were never seen in training: out of vocabulary
    assert (data.x_test[:, -1] == textfile.OOV_ID).all()


def test_spec_accepts_a_data_file_and_names_the_suffixes_otherwise():
    from rnnbench.config.spec import SweepSpec

    assert SweepSpec(dataset="my reviews.CSV").dataset == "my reviews.CSV"
    with pytest.raises(BadInput, match=r"\.csv, \.tsv, \.jsonl"):
        SweepSpec(dataset="reviews.xlsx")
    with pytest.raises(BadInput, match="text_column"):
        SweepSpec(text_column=" ")


def test_parameter_counts_follow_the_vocabulary_and_classes():
    pytest.importorskip("keras")
    from rnnbench.models import create_model

    v, e, u, k = 500, 32, 32, 3
    lstm = create_model("lstm", vocab_size=v, num_classes=k)
    assert lstm.count_params() == v * e + 4 * (u * (e + u) + u) + u * k + k
    assert create_model("gru", vocab_size=v).count_params() == v * e + 3 * (u * (e + u) + 2 * u) + u + 1


EXAMPLE = __import__("pathlib").Path(__file__).resolve().parents[1] / "docs" / "examples" / "reviews.csv"


def test_the_shipped_example_is_what_its_generator_writes(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_reviews", EXAMPLE.with_name("make_reviews.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write(tmp_path / "reviews.csv")
    assert (tmp_path / "reviews.csv").read_bytes() == EXAMPLE.read_bytes()


@pytest.mark.slow
def test_a_three_class_csv_trains_and_reports_accuracy_end_to_end(tmp_path, monkeypatch, capsys):
    from rnnbench.storage.store import load_run

    monkeypatch.setenv("RNNBENCH_CACHE", str(tmp_path / "cache"))
    out, csv_file = tmp_path / "run", tmp_path / "reviews.csv"
    csv_file.write_bytes(EXAMPLE.read_bytes())
    args = ["run", "--dataset", str(csv_file), "--models", "lstm", "--kernels", "generic", "--devices", "cpu",
            "--jit-compile", "false", "--maxlen", "64", "--batch-size", "32", "--epochs", "4", "--seeds", "0",
            "--speed-target", "0.3", "--threads", "1", "--out", str(out), "--quiet"]
    assert main(args) == 0, capsys.readouterr().err
    run = load_run(out)
    (row,) = run.cells.values()
    assert row["status"] == "ok" and row["dataset"] == str(csv_file)
    data = run.meta.data
    assert data["classes"] == [0, 1, 2] and data["train"] == 960 and data["test"] == 240
    assert data["fingerprint"] == textfile.read(EXAMPLE).fingerprint
    # a softmax head over three classes: the closed form with the file's own vocabulary
    vocab = datasets.padded(str(EXAMPLE), 64, data_path=str(EXAMPLE)).vocab_size
    assert int(row["params"]) == vocab * 32 + 4 * (32 * 64 + 32) + 32 * 3 + 3
    # The words decide the class: four epochs leave chance (1/3) well behind.
    assert float(row["test_acc"]) > 0.5

    # The same directory and path, the file's content changed: refused, one line, the stored row kept.
    csv_file.write_bytes(EXAMPLE.read_bytes().replace(b"great", b"grand"))
    before = (out / "cells.csv").read_bytes()
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "data differs" in err
    assert (out / "cells.csv").read_bytes() == before


def test_data_info_describes_a_file_and_refuses_a_bad_one_in_one_line(tmp_path, capsys):
    assert main(["data", "info", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "960 train / 240 test" in out and "classes: 3 (softmax" in out and textfile.read(EXAMPLE).fingerprint in out
    assert main(["data", "info", str(EXAMPLE), "--label-column", "stars"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing column 'stars'" in err
