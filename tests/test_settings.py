"""Each sweep setting is declared once (bench/config/settings.py), and everything else follows from it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from rnnbench.cli import build_parser
from rnnbench.cli.shared import spec_from_args
from rnnbench.config.settings import BY_NAME, SETTINGS, markdown_table
from rnnbench.config.spec import Cell, SweepSpec
from rnnbench.storage.schema import CELL_COLUMNS

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_spec_field_is_declared_exactly_once():
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    # parts (sub-grids, a TOML list of tables) is a sweep file's structure, not a setting with a flag
    assert set(names) == {f.name for f in dataclasses.fields(SweepSpec)} - {"parts"}


def test_identity_settings_are_the_cell_s_fields_and_columns():
    identity = {s.column for s in SETTINGS if s.identity}
    assert identity == {f.name for f in dataclasses.fields(Cell)} - {"arch"}  # arch follows from the model
    assert {s.column for s in SETTINGS if s.column} <= set(CELL_COLUMNS)


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_flag_sets_its_spec_field(setting):
    value = {"models": "lstm", "kernels": "generic", "maxlen": "77", "batch_size": "33", "devices": "cpu",
             "jit_compile": "true", "backends": "tensorflow", "seeds": "5", "epochs": "2", "dataset": "synthetic",
             "train_samples": "200", "test_samples": "100", "speed_target_s": "0.5", "timeout_s": "60",
             "memory_limit_mb": "900", "threads": "1", "cpus": "0", "processes": "2", "max_cells": "50",
             "text_column": "review", "label_column": "stars", "parallel": "2",
             "units": "128", "executor": "ray", "ray_address": "auto", "launch": "spawn"}[setting.name]
    for flag in (setting.flag, *setting.aliases):
        spec = spec_from_args(build_parser().parse_args(["run", "--preset", "smoke", flag, value]))
        got = getattr(spec, setting.name)
        expected = setting.kind(value) if setting.kind is not bool else True
        assert got == ((expected,) if setting.axis or setting.listed else expected), flag


def test_the_readme_table_is_the_generated_one():
    text = README.read_text()
    start = text.index("<!-- settings: generated, do not edit -->\n") + len("<!-- settings: generated, do not edit -->\n")
    assert text[start:text.index("<!-- /settings -->")].strip() == markdown_table(), \
        "README's settings table is stale: paste the output of `python -m rnnbench.config.settings`"


def test_jit_compile_is_one_spelling_with_the_old_flag_kept():
    assert BY_NAME["jit_compile"].flag == "--jit-compile" and "--jit" in BY_NAME["jit_compile"].aliases
