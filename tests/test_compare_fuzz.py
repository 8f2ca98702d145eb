"""Property test: ``compare`` against damaged copies of the committed baseline (issue 12).

Copies of ``results/baseline-regress`` are corrupted at random: non-finite, empty and nonsense metrics,
unknown statuses, duplicate and missing rows, truncated files, garbage bytes, damaged step times. Whatever
the damage, ``compare`` answers with an exit code (0, 1 or 2) and at most one line on stderr, never a
traceback; and where the damage left a file unreadable, a cell missing, a status changed, or a judged
value of an ok cell (speed, accuracy, parameter count, a raw step time) no valid number, it never exits 0.
Damage that turns one valid number into another (0.4945 into 0.49145) is a different measurement to any
reader without a checksum, and is not claimed.
"""

from __future__ import annotations

import contextlib
import io
import math
import shutil
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rnnbench.cli import main
from rnnbench.errors import BadInput
from rnnbench.storage.store import load_run

BASELINE = Path(__file__).resolve().parent.parent / "results" / "baseline-regress"
JUDGED = ("train_samples_per_s", "test_acc", "params")
BAD_NUMBERS = ["nan", "NaN", "inf", "-inf", "", "0", "-3", "abc", "1e999", "0x10"]


def _valid(column: str, value) -> bool:
    """Whether a value (a typed stored one, None for empty, or text to be written) is a valid measurement
    of ``column``."""
    try:
        value = float(value) if value is not None else math.nan
    except ValueError:
        return False
    return math.isfinite(value) and (0 <= value <= 1 if column == "test_acc" else value > 0)


def _judged(path: Path):
    """The shape of what compare judges in a run directory: cells present, their statuses and which judged
    values are valid numbers; or "unreadable" (which a damaged raw step time makes it)."""
    try:
        run = load_run(path)
    except BadInput:
        return "unreadable"
    return {cid: (r["status"], *(_valid(c, r[c]) for c in JUDGED)) for cid, r in run.cells.items()}


def _rows(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


@st.composite
def damage(draw):
    kind = draw(st.sampled_from(["metric", "status", "duplicate", "missing", "truncate", "garbage", "step"]))
    return kind, draw(st.randoms(use_true_random=False))


def _apply(run: Path, kind: str, rnd) -> None:
    cells = run / "cells.csv"
    lines = _rows(cells)
    header = lines[0].rstrip("\n").split(",")
    if kind in ("metric", "status"):
        i = rnd.randrange(1, len(lines))
        fields = lines[i].rstrip("\n").split(",")  # the baseline's rows hold no quoted commas
        column = rnd.choice(JUDGED) if kind == "metric" else "status"
        fields[header.index(column)] = rnd.choice(BAD_NUMBERS if kind == "metric" else ["crashed", "OK", "", "Failed", "ok "])
        lines[i] = ",".join(fields) + "\n"
        cells.write_text("".join(lines))
    elif kind == "duplicate":
        lines.insert(rnd.randrange(1, len(lines) + 1), lines[rnd.randrange(1, len(lines))])
        cells.write_text("".join(lines))
    elif kind == "missing":
        del lines[rnd.randrange(1, len(lines))]
        cells.write_text("".join(lines))
    elif kind == "truncate":
        data = cells.read_bytes()
        cells.write_bytes(data[: rnd.randrange(len(lines[0]) + 1, len(data) - 1)])
    elif kind == "garbage":
        target = rnd.choice([cells, run / "steps.csv"])
        data = target.read_bytes()
        at = rnd.randrange(data.index(b"\n") + 1, len(data))
        target.write_bytes(data[:at] + bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 12))) + data[at:])
    else:  # one raw step time
        steps = _rows(run / "steps.csv")
        i = rnd.randrange(1, len(steps))
        fields = steps[i].rstrip("\n").split(",")
        fields[-1] = rnd.choice(["nan", "inf", "0", "-0.01", "", "x"])
        steps[i] = ",".join(fields) + "\n"
        (run / "steps.csv").write_text("".join(steps))


def _compare(base: Path, new: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["compare", str(base), str(new)])
    return code, err.getvalue()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage())
def test_compare_never_passes_a_corrupted_new_run(tmp_path_factory, case):
    kind, rnd = case
    new = tmp_path_factory.mktemp("fuzz") / "new"
    shutil.copytree(BASELINE, new)
    _apply(new, kind, rnd)
    code, err = _compare(BASELINE, new)
    assert code in (0, 1, 2), (kind, code, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 1, err
    if _judged(new) != _judged(BASELINE):
        assert code != 0, (kind, _judged(new))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(JUDGED), st.sampled_from(BAD_NUMBERS), st.integers(1, 3))
def test_a_damaged_baseline_is_bad_input(tmp_path_factory, column, text, row):
    assume(not _valid(column, text))  # "0" is a valid accuracy
    base = tmp_path_factory.mktemp("fuzz") / "base"
    shutil.copytree(BASELINE, base)
    lines = _rows(base / "cells.csv")
    header = lines[0].rstrip("\n").split(",")
    fields = lines[row].rstrip("\n").split(",")
    fields[header.index(column)] = text
    lines[row] = ",".join(fields) + "\n"
    (base / "cells.csv").write_text("".join(lines))
    code, err = _compare(base, BASELINE)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, (column, text, err)
