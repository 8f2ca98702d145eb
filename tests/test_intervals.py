"""Test accuracy over seeds (bench/reporting/intervals.py): the t-interval, the grouping, and what reports show of it."""

from __future__ import annotations

import math

import pytest
from rnnbench.reporting import report
from rnnbench.reporting.intervals import (
    GROUP_COLUMNS,
    INTERVAL_NOTE,
    Interval,
    format_interval,
    seed_groups,
    t_interval,
)
from rnnbench.reporting.table import accuracy_summary
from rnnbench.storage.store import RunStore, load_run
from scipy import stats
from test_report import _epochs, _row


def _scipy(values):
    """The reference: scipy's t-interval with n-1 degrees of freedom and scale = s (ddof=1) / sqrt(n)."""
    n = len(values)
    mean = sum(values) / n
    sem = stats.tstd(values) / math.sqrt(n)
    return mean, *stats.t.interval(0.95, n - 1, loc=mean, scale=sem)


@pytest.mark.parametrize("values", [
    [0.70, 0.53],  # two seeds of SimpleRNN on a small real set
    [0.865, 0.870],
    [0.80, 0.81, 0.79],
    [0.5, 0.6, 0.7, 0.9, 0.55],
    [0.91, 0.912, 0.915, 0.905, 0.908, 0.91, 0.9, 0.92, 0.911, 0.909],
])
def test_interval_is_scipys_t_interval(values):
    interval = t_interval(values)
    mean, low, high = _scipy(values)
    assert interval.n == len(values)
    assert interval.mean == pytest.approx(mean, abs=1e-12)
    assert interval.low == pytest.approx(low, abs=1e-12) and interval.high == pytest.approx(high, abs=1e-12)
    assert interval.half_width == pytest.approx((high - low) / 2, abs=1e-12)


def test_two_seeds_use_one_degree_of_freedom():
    interval = t_interval([0.70, 0.53])
    # s = 0.12021, sem = 0.085, t(0.975, 1) = 12.706: an interval far wider than the two values' range
    assert interval.half_width == pytest.approx(12.7062 * 0.085, rel=1e-4)


def test_zero_spread_is_a_zero_width_interval_at_the_mean():
    interval = t_interval([0.8125, 0.8125, 0.8125])
    # scipy gives NaN for scale 0; the interval mean ± t * 0 is the mean itself
    t = stats.t.ppf(0.975, 2)
    assert (interval.low, interval.high) == (0.8125 - t * 0.0, 0.8125 + t * 0.0) == (0.8125, 0.8125)
    assert interval.n == 3 and format_interval(interval) == "0.812 ± 0.000"


@pytest.mark.parametrize("values", [[0.7], [0.7, float("nan")], [None, 0.7], []])
def test_fewer_than_two_values_have_no_interval(values):
    interval = t_interval(values)
    assert interval.low is None and interval.high is None and interval.half_width is None
    assert interval.n == (0 if not values else 1)
    assert interval.mean == (None if not values else 0.7)
    assert format_interval(interval) == ("" if not values else "0.700")  # the mean alone, no "± 0"


def test_nan_and_none_are_not_counted():
    assert t_interval([0.70, float("nan"), None, 0.53]) == t_interval([0.70, 0.53])


def test_format():
    assert format_interval(Interval(0.8, 0.75, 0.85, 3)) == "0.800 ± 0.050"
    assert format_interval(Interval(0.8, None, None, 1)) == "0.800"


def _cell(model="lstm", seed=0, acc=0.8, **kw):
    row = {**_row(model, seed=seed, acc=acc), **kw}
    row["cell_id"] = f"{row['cell_id']}-{kw.get('speed_target_s', '')}"
    return row


def test_grouping_merges_seeds_and_separates_parameters():
    rows = [_cell(seed=s, acc=a) for s, a in ((0, 0.80), (1, 0.82), (2, 0.81))]
    rows += [_cell(seed=s, acc=a, maxlen=200) for s, a in ((0, 0.85), (1, 0.86))]
    rows += [_cell("gru", seed=s, acc=a) for s, a in ((0, 0.7), (1, 0.75))]
    rows += [_cell(seed=0, acc=0.5, batch_size=256), _cell(seed=0, acc=0.5, jit_compile=True),
             _cell(seed=0, acc=0.5, epochs=5), _cell(seed=0, acc=0.5, dataset="imdb")]
    groups = {(g.params["model"], g.params["maxlen"], g.params["batch_size"], g.params["jit_compile"],
               g.params["epochs"], g.params["dataset"]): g for g in seed_groups(rows)}
    assert len(groups) == 7
    base = groups["lstm", 100, 64, False, 3, "synthetic"]
    assert base.interval == t_interval([0.80, 0.82, 0.81]) and base.seeds == (0, 1, 2) and base.ceiling == 0.9
    assert groups["lstm", 200, 64, False, 3, "synthetic"].interval == t_interval([0.85, 0.86])
    assert groups["gru", 100, 64, False, 3, "synthetic"].interval.n == 2
    assert groups["lstm", 100, 256, False, 3, "synthetic"].interval.n == 1


def test_group_columns_are_the_identity_settings_but_seed_and_speed_target():
    """A new identity setting (bench/config/settings.py) must be a grouping column too, or be left out on purpose here."""
    from rnnbench.config.settings import SETTINGS

    assert set(GROUP_COLUMNS) == {s.column for s in SETTINGS if s.identity} - {"seed", "speed_target_s"}


def test_failed_speed_only_and_missing_values_do_not_count():
    rows = [_cell(seed=0, acc=0.80), _cell(seed=1, acc=0.84),
            _cell(seed=2, acc=None),  # speed only
            {**_cell(seed=3, acc=0.1), "status": "failed"},
            _cell(seed=4, acc=float("nan"))]
    (group,) = seed_groups(rows)
    assert group.interval == t_interval([0.80, 0.84]) and group.seeds == (0, 1)


def test_missing_parameter_values_group_alike_whatever_their_form():
    """A typed frame's records carry None, NaN or pandas' NA for an empty train_samples: one group."""
    import pandas as pd

    rows = [_cell(seed=0, train_samples=None), _cell(seed=1, train_samples=float("nan")),
            _cell(seed=2, train_samples=pd.NA)]
    (group,) = seed_groups(rows)
    assert group.interval.n == 3 and group.params["train_samples"] is None


def test_a_seed_in_two_cells_of_a_group_counts_once():
    """Cells that differ only in a setting outside the key (the speed target) repeat a seed, not add one."""
    rows = [_cell(seed=0, acc=0.80, speed_target_s=3.0), _cell(seed=0, acc=0.82, speed_target_s=10.0),
            _cell(seed=1, acc=0.85, speed_target_s=3.0)]
    (group,) = seed_groups(rows)
    assert group.seeds == (0, 1) and group.interval == t_interval([0.81, 0.85])


# --- reports -------------------------------------------------------------------------------------

LSTM, SIMPLE, GRU = [0.86, 0.87, 0.865], [0.55, 0.60, 0.65], [0.84, 0.88, 0.85]


def _seeded_run(path, models):
    with RunStore(path) as store:
        for model, accs in models.items():
            for seed, acc in enumerate(accs):
                row = _row(model, seed=seed, acc=acc)
                store.record(row, epochs=_epochs(row["cell_id"]))
        store.write_run_json({"preset": "test"})
    return path


def _section(text, title):
    return text.split(f"## {title}")[1].split("\n## ")[0]


def test_report_of_three_seeds_and_two_models(tmp_path):
    out = report.build(_seeded_run(tmp_path / "run", {"lstm": LSTM, "simple_rnn": SIMPLE}))
    text = (out / "REPORT.md").read_text()
    lstm, simple = format_interval(t_interval(LSTM)), format_interval(t_interval(SIMPLE))
    assert lstm == "0.865 ± 0.012" and simple == "0.600 ± 0.124"
    board = _section(text, "Leaderboard")
    assert board.index("| lstm") < board.index("| simple_rnn")
    lines = {line.split("|")[1].strip(): line for line in board.splitlines() if line.startswith("| lstm") or line.startswith("| simple")}
    # from three seeds the 95% t-interval as [low, high], clipped to [0, 1]
    low, high = t_interval(SIMPLE).low, t_interval(SIMPLE).high
    assert "| 0.865 \\[0.853, 0.877\\] " in lines["lstm"]
    assert f"| 0.600 \\[{low:.3f}, {high:.3f}\\] " in lines["simple_rnn"]
    # rows written without predictions: no paired verdict, and said
    assert "| no predictions " in lines["lstm"]
    seeds = _section(text, "Test accuracy over seeds (mean, 95% t-interval)")
    assert f"| {lstm} " in seeds and f"| {simple} " in seeds and "| ceiling" in seeds and "| 0.900 " in seeds
    assert INTERVAL_NOTE in seeds
    assert "accuracy_over_seeds.png" in text and (out / "accuracy_over_seeds.png").stat().st_size > 10_000
    page = (out / "index.html").read_text()
    assert "<td>0.865 [0.853, 0.877]</td>" in page and "<td>no predictions</td>" in page


def test_an_interval_past_1_is_clipped(tmp_path):
    wide = [0.99, 0.55, 0.99]
    assert t_interval(wide).high > 1
    board = _section((report.build(_seeded_run(tmp_path / "run", {"lstm": wide})) / "REPORT.md").read_text(), "Leaderboard")
    assert f"| 0.843 \\[{t_interval(wide).low:.3f}, 1.000\\] " in board


def test_leaderboard_ranks_by_mean_not_best_cell(tmp_path):
    # simple_rnn has the best single cell (0.95) but the lower mean
    out = report.build(_seeded_run(tmp_path / "run", {"lstm": [0.86, 0.87, 0.865], "simple_rnn": [0.95, 0.5, 0.55]}))
    board = _section((out / "REPORT.md").read_text(), "Leaderboard")
    assert board.index("| lstm") < board.index("| simple_rnn")


def test_single_seed_run_has_no_interval_and_does_not_break(tmp_path):
    run = _seeded_run(tmp_path / "run", {"lstm": [0.86], "simple_rnn": [0.6]})
    out = report.build(run)
    text = (out / "REPORT.md").read_text()
    assert "±" not in text
    assert "| 0.860 " in _section(text, "Leaderboard")  # one seed: its value, no interval
    assert "_Left out: no parameter set has 2 or more seeds" in text
    assert not (out / "accuracy_over_seeds.png").exists()
    assert accuracy_summary(load_run(run).cells.values()) == ""


def test_terminal_summary(tmp_path):
    run = _seeded_run(tmp_path / "run", {"lstm": LSTM, "simple_rnn": SIMPLE})
    with RunStore(run) as store:  # a failed cell and a speed-only cell of the same parameters change nothing
        store.record({**_row("lstm", seed=7, status="failed", error="boom"), "cell_id": "f"})
        store.record({**_row("lstm", seed=8), "test_acc": None, "cell_id": "s"})
    text = accuracy_summary(load_run(run).cells.values())
    lines = text.splitlines()
    assert lines[0] == "test accuracy over seeds:" and lines[-1] == INTERVAL_NOTE
    lstm = next(line for line in lines if line.startswith("lstm"))
    assert format_interval(t_interval(LSTM)) in lstm and lstm.split()[-2:] == ["3", "0.900"]


def test_the_terminal_summary_reads_typed_stored_rows(tmp_path):
    """load_run gives typed rows (converted once, by the column types), so "3" seeds group as one."""
    run = _seeded_run(tmp_path / "run", {"lstm": LSTM})
    rows = list(load_run(run).cells.values())
    assert all(isinstance(r["test_acc"], float) and isinstance(r["seed"], int) for r in rows)
    (group,) = seed_groups(rows)
    assert group.interval == t_interval(LSTM)


def test_data_in_the_accuracy_tables_is_escaped(tmp_path):
    """A data set name is data: no markup, no extra column, no math-mode failure in a chart label."""
    run = tmp_path / "run"
    hostile = "<script>alert(1)</script> | $\\frac$"
    with RunStore(run) as store:
        for dataset in ("synthetic", hostile):
            for seed, acc in enumerate(LSTM):
                row = {**_row("lstm", seed=seed, acc=acc, maxlen=100 if seed else 200), "dataset": dataset}
                store.record({**row, "cell_id": f"{row['cell_id']}-{len(dataset)}"})
    out = report.build(run)
    md, page = (out / "REPORT.md").read_text(), (out / "index.html").read_text()
    assert "<script>" not in md and "<script>" not in page and "&lt;script&gt;" in page
    rows = [line for line in _section(md, "Test accuracy over seeds (mean, 95% t-interval)").splitlines()
            if line.startswith("|")]
    assert len({line.replace("\\|", "").count("|") for line in rows}) == 1
