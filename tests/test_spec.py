"""Sweep specs: validation with named errors, TOML files, overrides, expansion and planning."""

from __future__ import annotations

import json

import pytest
from rnnbench.config import presets
from rnnbench.config.plan import skip_reason
from rnnbench.config.spec import Cell, SweepSpec
from rnnbench.config.sweep_file import from_mapping, from_toml, parse_list
from rnnbench.errors import BadInput


def test_presets_are_valid_and_cover_the_registry():
    for name, (_, spec) in presets.PRESETS.items():
        assert spec.expand(), name
    smoke = presets.get_preset("smoke").expand()
    from rnnbench.models import list_models

    assert sorted({c.model for c in smoke}) == list_models()
    assert all(c.kernel == "generic" and c.epochs == 1 and c.train_samples == 2000 for c in smoke)
    seed = presets.get_preset("seed").expand()
    assert [c.model for c in seed] == ["simple_rnn", "stacked_simple_rnn", "lstm", "gru"]
    assert {(c.maxlen, c.batch_size, c.epochs) for c in seed} == {(500, 128, 10)}


def test_default_is_a_first_look_at_speed_and_accuracy_of_three_cell_types():
    cells = presets.get_preset("default").expand()
    # the speed grid varies kernel, device, batch and XLA (maxlen and seeds: overrides or other presets)
    for column in ("kernel", "batch_size", "jit_compile", "device"):
        assert len({getattr(c, column) for c in cells if c.epochs == 0}) >= 2, column
    trained = [c for c in cells if c.epochs > 0]
    # the accuracy part: the speed grid's three cell types once (seed 0), on the full data set (so the ceiling
    # is recorded); the tutorial's four models are the seed preset
    assert {c.model for c in trained} == {c.model for c in cells if c.epochs == 0} == {"simple_rnn", "lstm", "gru"}
    assert {c.seed for c in trained} == {0} and {(c.train_samples, c.test_samples) for c in trained} == {(None, None)}
    # the fast-path check: LSTM's seed 0 trained with XLA off and on, everything else equal
    xla = [c for c in trained if c.model == "lstm"]
    assert sorted(c.jit_compile for c in xla) == [False, True]
    assert len({(c.kernel, c.device, c.maxlen, c.batch_size, c.epochs) for c in xla}) == 1


def test_expansion_order_and_kernel_filter():
    cells = SweepSpec(models=("simple_rnn", "lstm"), kernels=("generic", "cudnn"), maxlen=(10, 20), epochs=0).expand()
    # simple_rnn has no cuDNN kernel: not generated. Order: model, kernel, ..., maxlen.
    assert [(c.model, c.kernel, c.maxlen) for c in cells] == [
        ("simple_rnn", "generic", 10), ("simple_rnn", "generic", 20),
        ("lstm", "generic", 10), ("lstm", "generic", 20), ("lstm", "cudnn", 10), ("lstm", "cudnn", 20),
    ]


def test_cell_id_is_stable_and_distinct():
    a = SweepSpec(models=("lstm",), maxlen=(10, 20)).expand()
    b = SweepSpec(models=("lstm",), maxlen=(10, 20)).expand()
    assert [c.cell_id for c in a] == [c.cell_id for c in b]
    assert len({c.cell_id for c in a}) == 2
    assert Cell.from_dict(a[0].to_dict()) == a[0]


def test_overlapping_patterns_do_not_duplicate():
    assert len(SweepSpec(models=("lstm*", "lstm")).expand()) == 2


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"models": ("lstn",)}, "did you mean 'lstm'"),
        ({"kernels": ("cudnnn",)}, "unknown kernel 'cudnnn'"),
        ({"maxlen": (0,)}, "maxlen must be an integer"),
        ({"maxlen": ("100",)}, "maxlen must be an integer"),
        ({"batch_size": (-1,)}, "batch_size"),
        ({"devices": ("tpu",)}, "unknown device 'tpu'"),
        ({"jit_compile": ("yes",)}, "jit_compile values"),
        ({"backends": ("jaxx",)}, "did you mean 'jax'"),
        ({"seeds": (-1,)}, "seeds"),
        ({"epochs": -1}, "epochs"),
        ({"dataset": "imbd"}, "unknown dataset 'imbd'"),
        ({"train_samples": 3}, "train_samples"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"maxlen": ()}, "non-empty"),
        ({"dataset": []}, "unknown dataset"),  # found by the hypothesis test: a list is unhashable
        ({"maxlen": ([100], [100])}, "is not a single value"),
        ({"cpus": ()}, "cpus must be a non-empty list"),
        ({"cpus": (-1,)}, "cpus must be a non-empty list"),
        ({"cpus": (True,)}, "cpus must be a non-empty list"),
        ({"cpus": "1"}, "cpus must be a non-empty list"),
    ],
)
def test_bad_values_are_named(changes, message):
    with pytest.raises(BadInput, match=message):
        SweepSpec(**changes)


def test_toml(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('models = ["lstm"]\nmaxlen = [50, 100]\nepochs = 0\njit_compile = true\n')
    spec = from_toml(f)
    assert spec.models == ("lstm",) and spec.maxlen == (50, 100) and spec.jit_compile == (True,)
    f.write_text('[sweep]\nmodels = "gru"\ncpus = [1, 0, 1]\n')
    spec = from_toml(f)
    assert spec.models == ("gru",) and spec.cpus == (0, 1)  # cores de-duplicated and sorted
    assert SweepSpec(cpus=1).cpus == (1,)


@pytest.mark.parametrize(
    "text, message",
    [
        ("models = [", "not valid TOML"),
        ("modles = ['lstm']", "unknown key 'modles'.*did you mean 'models'"),
        ("maxlen = ['a']", "maxlen must be an integer"),
        ("epochs = 'ten'", "epochs"),
    ],
)
def test_bad_toml(tmp_path, text, message):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(BadInput, match=message):
        from_toml(f)


def test_missing_and_binary_toml(tmp_path):
    with pytest.raises(BadInput, match="does not exist"):
        from_toml(tmp_path / "nope.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(BadInput, match="cannot be read"):
        from_toml(tmp_path / "bin.toml")


def test_from_mapping_rejects_non_table():
    with pytest.raises(BadInput):
        from_mapping([1, 2])  # type: ignore[arg-type]


def test_parse_list():
    assert parse_list("100, 500", int, "maxlen") == (100, 500)
    assert parse_list("false,true", bool, "jit") == (False, True)
    with pytest.raises(BadInput, match="--maxlen: expected integers"):
        parse_list("100,abc", int, "maxlen")
    with pytest.raises(BadInput, match="comma-separated"):
        parse_list("100,,500", int, "maxlen")
    with pytest.raises(BadInput, match="true or false"):
        parse_list("maybe", bool, "jit")


def _cell(**kw):
    base = dict(models=("lstm",), kernels=("generic",), epochs=0)
    base.update(kw)
    return SweepSpec(**base).expand()[0]


def test_skip_reasons():
    yes, no_gpu = (lambda b: True), (lambda b: ())
    assert skip_reason(_cell(), yes, no_gpu) is None
    assert "cuDNN kernel runs only on a GPU" in skip_reason(_cell(kernels=("cudnn",)), yes, no_gpu)
    assert "sees no GPU" in skip_reason(_cell(devices=("gpu",)), yes, no_gpu)
    assert skip_reason(_cell(devices=("gpu",), kernels=("cudnn",)), yes, lambda b: ("GPU:0",)) is None
    assert "gpu:1 requested" in skip_reason(_cell(devices=("gpu:1",)), yes, lambda b: ("GPU:0",))
    assert "not installed" in skip_reason(_cell(backends=("torch",)), lambda b: b != "torch", no_gpu)
    assert "recurrent_dropout" in skip_reason(_cell(models=("lstm_dropout",), kernels=("cudnn",), devices=("gpu",)), yes, lambda b: ("G",))


# Issue 12, case 13: sweep size.

def test_a_sweep_over_the_cell_limit_is_refused_before_anything_is_built(capsys):
    from rnnbench.cli import main

    argv = ["run", "--dry-run", "--preset", "smoke", "--seeds", ",".join(map(str, range(20_000)))]
    assert main(argv) == 2
    assert "more than max_cells = 10,000" in capsys.readouterr().err
    assert main([*argv, "--max-cells", "1000000"]) == 0  # raised on purpose


def test_deduplication_keeps_a_bool_and_an_int_apart():
    with pytest.raises(BadInput, match="jit_compile values must be true or false, got 0"):
        SweepSpec(jit_compile=[False, 0])
    with pytest.raises(BadInput, match="seeds must be integers"):
        SweepSpec(seeds=[1, True])
    assert SweepSpec(seeds=[3, 1, 3, 2, 1]).seeds == (3, 1, 2)


def test_a_list_inside_an_axis_is_named():
    with pytest.raises(BadInput, match="is not a single value"):
        SweepSpec(maxlen=[100, [200]])


def test_a_cell_id_is_hashed_once():
    cell = SweepSpec(models=("lstm",)).expand()[0]
    first = cell.cell_id
    assert cell.__dict__["cell_id"] == first and cell.cell_id is first


# Issue 15, part 1: combinations Keras cannot run are skipped with the rule, on any machine.

@pytest.mark.parametrize("changes, rule", [
    (dict(kernels=("cudnn",), jit_compile=(True,)), "supports_jit=False"),
    (dict(models=("gru",), kernels=("cudnn",), backends=("jax",)), "no cuDNN GRU on JAX"),
    (dict(kernels=("cudnn",), backends=("torch",), jit_compile=(True,)), "only without compilation"),
])
def test_impossible_cudnn_cells_are_skipped_with_the_rule_even_with_a_gpu(changes, rule):
    yes, a_gpu = (lambda b: True), (lambda b: ("GPU:0",))
    reason = skip_reason(_cell(devices=("gpu",), **changes), yes, a_gpu, keras=lambda: (3, 15))
    assert reason is not None and rule in reason


def test_a_cudnn_lstm_on_jax_needs_keras_3_14():
    yes, a_gpu = (lambda b: True), (lambda b: ("GPU:0",))
    cell = _cell(devices=("gpu",), kernels=("cudnn",), backends=("jax",))
    assert "needs Keras 3.14 or later (installed: 3.13.2)" in skip_reason(cell, yes, a_gpu, keras=lambda: (3, 13, 2))
    assert skip_reason(cell, yes, a_gpu, keras=lambda: (3, 14, 0)) is None
    assert skip_reason(_cell(devices=("gpu",), kernels=("cudnn",)), yes, a_gpu, keras=lambda: (3, 15)) is None  # TF, no XLA


def test_parts_are_a_union_of_sub_grids_and_an_override_applies_to_every_part(tmp_path):
    base = SweepSpec(models=("lstm",), maxlen=(100,), epochs=0, seeds=(0,),
                     parts=({"maxlen": [100, 200]}, {"models": ("gru", "lstm"), "epochs": 3, "maxlen": [100]}))
    cells = base.expand()
    got = [(c.model, c.maxlen, c.epochs) for c in cells]
    assert got == [("lstm", 100, 0), ("lstm", 200, 0), ("gru", 100, 3), ("lstm", 100, 3)]
    assert len({c.cell_id for c in cells}) == 4
    narrowed = base.replace(maxlen=(50,))
    assert {(c.model, c.maxlen, c.epochs) for c in narrowed.expand()} == {("lstm", 50, 0), ("gru", 50, 3), ("lstm", 50, 3)}
    assert base.replace(processes=2).parts == base.parts  # not a cell setting: parts untouched
    # run.json's spec reads back to the same sweep, and a TOML file can say the same with [[parts]]
    assert from_mapping(json.loads(json.dumps(base.to_dict()))).expand() == cells
    toml = tmp_path / "s.toml"
    toml.write_text('models = ["lstm"]\nmaxlen = [100]\nepochs = 0\n[[parts]]\nmaxlen = [100, 200]\n'
                    '[[parts]]\nmodels = ["gru", "lstm"]\nepochs = 3\n')
    assert from_toml(toml).expand() == cells


def test_a_part_shared_cell_counts_once_and_max_cells_counts_the_union():
    same = SweepSpec(models=("lstm",), parts=({"seeds": [0, 1]}, {"seeds": [1, 2]}))
    assert [c.seed for c in same.expand()] == [0, 1, 2]
    with pytest.raises(BadInput, match="3 cells, more than max_cells = 2"):
        same.replace(max_cells=2).expand()


@pytest.mark.parametrize("parts, message", [
    ({"maxlen": [1]}, "parts must be a list"),
    ([3], "part 1 must be a table"),
    ([{"threads": 1}], "'threads' cannot be set per part"),
    ([{"maxlen": [100]}, {"maxlen": [0]}], "part 2: maxlen must be an integer"),
    ([{"modles": ["lstm"]}], "did you mean 'models'"),
])
def test_a_bad_part_is_one_line_naming_it(parts, message):
    with pytest.raises(BadInput, match=message):
        SweepSpec(parts=parts)


def test_units_is_an_axis_whose_default_keeps_the_ids_cells_had_before_it():
    import dataclasses
    import hashlib

    cells = SweepSpec(models=("lstm",), units=(32, 128)).expand()
    assert [c.units for c in cells] == [32, 128] and cells[0].cell_id != cells[1].cell_id
    old = {k: v for k, v in dataclasses.asdict(cells[0]).items() if k != "units"}  # the payload before units
    payload = json.dumps(old, sort_keys=True, separators=(",", ":"))
    assert cells[0].cell_id == hashlib.sha256(payload.encode()).hexdigest()[:12]
    assert Cell.from_dict({k: v for k, v in cells[0].to_dict().items() if k != "units"}) == cells[0]
    with pytest.raises(BadInput, match="units must be integers"):
        SweepSpec(units=(0,))


def test_committed_baseline_ids_are_the_regress_preset_s():
    import csv
    from pathlib import Path

    rows = list(csv.DictReader(open(Path(__file__).resolve().parents[1] / "results" / "baseline-regress" / "cells.csv")))
    assert {r["cell_id"] for r in rows} == {c.cell_id for c in presets.get_preset("regress").expand()}
