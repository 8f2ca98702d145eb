"""A dry run that plans and a progress line with an ETA (issue 27, item 2): the cost model of a cell, fed
by stored cells, gives known estimates on a fixture run directory."""

from __future__ import annotations

import io

import pytest
from rnnbench.cli import main
from rnnbench.config import estimate
from rnnbench.config.spec import SweepSpec
from rnnbench.execute import sweep
from rnnbench.execute.executor import CellOutcome
from rnnbench.execute.progress import PACE_PRIOR_S, Progress

HERE = {"host": "vm", "cpu": {"model": "AMD EPYC", "flags": ["avx"], "logical_cores": 2}, "gpus": [], "python": "3.11.7",
        "packages": {"keras": "3.15.1", "tensorflow": "2.21.0"}, "git_commit": "aaa", "started_at": "2026-11-29T20:00:00+00:00"}


def _row(**kw):
    row = {"status": "ok", "model": "lstm", "kernel": "generic", "backend": "tensorflow", "device": "cpu", "jit_compile": False,
           "maxlen": 100, "batch_size": 128, "epochs": 0, "processes": 1, "speed_target_s": 2.0, "startup_s": 3.0,
           "compile_s": 1.0, "train_samples_per_s": 4000.0, "infer_samples_per_s": 16000.0}
    row.update(kw)
    # a speed-only cell's wall: start-up, trace, and 2.5 s of speed phase per second of target
    row.setdefault("wall_s", row["startup_s"] + row["compile_s"] + 2.5 * row["speed_target_s"])
    return row


def _cell(**kw):
    spec = {"models": ("lstm",), "maxlen": (100,), "batch_size": (128,), "epochs": 0, "speed_target_s": 2.0, **kw}
    return SweepSpec(**spec).expand()[0]


def test_a_cell_like_a_stored_one_costs_its_start_up_trace_speed_phase_and_epochs():
    model = estimate.CostModel([_row(), _row(jit_compile=True, compile_s=3.0)])
    assert model.speed_factor == pytest.approx(2.5)
    speed_only = model.estimate(_cell())
    assert speed_only == estimate.CellEstimate(pytest.approx(3.0 + 1.0 + 2.5 * 2.0), "measured")
    assert model.estimate(_cell(jit_compile=(True,))).seconds == pytest.approx(3.0 + 3.0 + 5.0)
    assert model.estimate(_cell(), processes=3).seconds == pytest.approx(3 * 9.0)  # each speed process starts anew
    # 2 epochs of 10,000 samples: 8,000 trained at 4,000/s and 2,000 validated at 16,000/s each, then 2,000 tested
    trained = model.estimate(_cell(epochs=2, train_samples=10_000, test_samples=2_000)).seconds
    assert trained == pytest.approx(9.0 + 2 * (8000 / 4000 + 2000 / 16000) + 2000 / 16000)


def test_throughput_scales_with_maxlen_and_batch_and_an_unknown_model_takes_the_defaults():
    model = estimate.CostModel([_row()])
    epochs = {"epochs": 1, "train_samples": 10_000, "test_samples": 1_000}
    base = model.estimate(_cell(**epochs)).seconds - 9.0
    longer = model.estimate(_cell(maxlen=(200,), **epochs)).seconds - 9.0
    assert longer == pytest.approx(2 * base)  # twice the sequence, twice the time
    bigger = model.estimate(_cell(batch_size=(512,), **epochs)).seconds - 9.0
    assert bigger < base  # a bigger batch trains more samples a second
    other = model.estimate(_cell(**{**epochs, "models": ("gru",)}))
    assert other.basis == "default"
    empty = estimate.CostModel([])
    assert empty.estimate(_cell()).seconds == pytest.approx(
        estimate.DEFAULTS["startup_s"] + estimate.DEFAULTS["compile_s"] + estimate.DEFAULTS["speed_factor"] * 2.0)


def test_a_forked_cell_costs_the_start_up_of_forked_cells():
    """Forked and spawned cells start in 0.15 s and 3.4 s here: each is estimated from cells started its way."""
    model = estimate.CostModel([_row(), _row(launch="fork", startup_s=0.2, maxlen=101)])
    assert model.estimate(_cell(), started="fork").seconds == pytest.approx(0.2 + 1.0 + 5.0)
    assert model.estimate(_cell(), started="spawn").seconds == pytest.approx(3.0 + 1.0 + 5.0)
    # a cell with several speed processes is spawned whatever --launch says
    spec = SweepSpec(models=("lstm",), maxlen=(100,), batch_size=(128,), epochs=0, speed_target_s=2.0, launch="fork")
    cell = spec.expand()[0]
    assert model.estimate_sweep(spec.replace(processes=2), [cell])[cell.cell_id].seconds == pytest.approx(2 * 9.0)
    # the first cell of a fork server also waits for the server's start, an import as a spawned cell's
    assert model.estimate_sweep(spec, [cell])[cell.cell_id].seconds == pytest.approx(3.0 + 0.2 + 1.0 + 5.0)
    assert model.estimate_sweep(spec.replace(launch="spawn"), [cell])[cell.cell_id].seconds == pytest.approx(9.0)
    no_forked_rows = estimate.CostModel([_row()])
    assert no_forked_rows.estimate(_cell(), started="fork").seconds == pytest.approx(estimate.DEFAULTS["startup_fork_s"] + 6.0)


def test_beyond_the_fork_servers_cap_a_sweep_s_cells_are_estimated_as_spawned():
    """The spawner serves at most MAX_FORK_SERVERS environments a slot (tests/test_fork_server.py); the cells
    of a fifth seed start spawned, 3 s each here instead of 0.2 s, and the estimate knows it. Each of the
    four servers' first cell waits for its start (3 s, a spawned cell's start-up)."""
    spec = SweepSpec(models=("lstm",), maxlen=(100,), batch_size=(64, 128), epochs=0, speed_target_s=2.0,
                     seeds=tuple(range(6)), launch="fork")
    cells = spec.expand()
    assert [c.seed for c in cells[:6]] == [0, 1, 2, 3, 4, 5]  # seeds innermost: every environment before the second batch
    model = estimate.CostModel([_row(), _row(launch="fork", startup_s=0.2, maxlen=101)])
    seconds = {cid: e.seconds for cid, e in model.estimate_sweep(spec, cells).items()}
    assert [seconds[c.cell_id] for c in cells[:6]] == pytest.approx([9.2] * 4 + [9.0] * 2)  # servers start; spawned
    assert [seconds[c.cell_id] for c in cells[6:]] == pytest.approx([6.2] * 4 + [9.0] * 2)  # forked; still spawned
    # Two slots take the cells in turn: each meets three seeds, under its cap; six servers start.
    two = {cid: e.seconds for cid, e in model.estimate_sweep(spec.replace(parallel=2), cells).items()}
    assert [two[c.cell_id] for c in cells] == pytest.approx([9.2] * 6 + [6.2] * 6)


def test_the_plan_s_fork_environments_are_the_spawner_s_server_keys():
    """plan_forks groups forkable cells by fork_environment; the spawner keys its servers by the cell's whole
    child environment. The two must split a sweep's forkable cells alike, or the estimate drifts silently."""
    from rnnbench.config.launch import fork_environment, forks
    from rnnbench.execute.spawner import child_env

    spec = SweepSpec(models=("lstm", "gru"), maxlen=(50, 100), batch_size=(32,), devices=("cpu", "gpu"),
                     backends=("tensorflow", "jax"), jit_compile=(False, True), seeds=(0, 1, 2), epochs=0)
    forkable = [c for c in spec.expand() if forks(c, "fork")]
    assert len({c.seed for c in forkable}) == 3 and len({c.jit_compile for c in forkable}) == 2

    def partition(key):
        groups = {}
        for c in forkable:
            groups.setdefault(key(c), set()).add(c.cell_id)
        return sorted(map(sorted, groups.values()))

    assert partition(fork_environment) == partition(lambda c: tuple(sorted(child_env(c, 1).items())))


def test_a_model_s_own_trace_time_is_used_where_stored_cells_have_it():
    model = estimate.CostModel([_row(), _row(model="gru", compile_s=4.0), _row(model="gru", compile_s=6.0)])
    assert model.estimate(_cell()).seconds == pytest.approx(3.0 + 1.0 + 5.0)  # lstm's own 1.0 s
    assert model.estimate(_cell(models=("gru",))).seconds == pytest.approx(3.0 + 5.0 + 5.0)  # gru's median
    # a model no stored cell has: the median over all of them
    assert model.estimate(_cell(models=("simple_rnn",))).seconds == pytest.approx(3.0 + 4.0 + 5.0)


def test_the_eta_of_parallel_slots_and_of_cells_never_said_to_start():
    cells = SweepSpec(models=("lstm", "gru", "simple_rnn", "stacked_simple_rnn"), maxlen=(100,), epochs=0).expand()
    stream = io.StringIO()
    progress = Progress(total=4, reused=0, quiet=False, stream=stream, parallel=2,
                        estimate=lambda cells: {c.cell_id: 10.0 for c in cells})
    progress.plan(cells, [])
    assert progress.eta_s(0.0) == pytest.approx(20.0)  # 40 s of cells in two slots
    progress.estimated_done = 20.0  # two cells done in 10 s: as estimated, two at a time
    assert progress.eta_s(10.0) == pytest.approx(10.0)
    progress.estimated_done = 0.0
    progress.advance(cells[0], "ok", None)  # an executor that never said the cell started: the sweep's clock
    assert stream.getvalue().splitlines()[-1].startswith("[1/4 0s, eta ")


def test_describe_seconds():
    assert [estimate.describe_seconds(s) for s in (4.4, 59.6, 725, 7380)] == ["4 s", "1 min 0 s", "12 min 5 s", "2 h 3 min"]


class TimedExecutor:
    """Ok outcomes whose rows carry the timings a real cell records."""

    def __init__(self):
        self.calibrations = {}

    def run(self, cells, on_start=None):
        for cell in cells:
            if on_start:
                on_start(cell)
            yield CellOutcome(cell, "ok", {"params": 1, "train_samples_per_s": 4000.0, "infer_samples_per_s": 16000.0,
                                           "startup_s": 3.0, "compile_s": 1.0, "wall_s": 9.0, "processes": 1},
                              [], [{"repeat": 0, "step": 0, "step_s": 0.01}], [])


SPEC = SweepSpec(models=("lstm",), kernels=("generic", "cudnn"), maxlen=(100, 200), batch_size=(128,), epochs=0,
                 speed_target_s=2.0)


@pytest.fixture
def stored(tmp_path, monkeypatch):
    """A run directory with two of SPEC's cells done; the committed results left out, so the figures are known."""
    monkeypatch.setattr(sweep.environment, "collect", lambda: dict(HERE))
    monkeypatch.setattr(estimate, "committed_results", lambda: [])
    out = tmp_path / "run"
    sweep.run_sweep(SPEC.replace(maxlen=(100,)), out, quiet=True, executor=TimedExecutor())
    return out


def test_dry_run_counts_what_will_run_be_skipped_or_is_done_and_estimates_the_wall_time(stored, capsys):
    argv = ["run", "--models", "lstm", "--kernels", "generic,cudnn", "--maxlen", "100,200", "--batch-size", "128",
            "--epochs", "0", "--speed-target", "2", "--devices", "cpu", "--jit-compile", "false", "--seeds", "0",
            "--out", str(stored), "--dry-run", "--launch", "spawn"]  # as the stored cells started (rows without launch)
    before = {p.name: p.read_bytes() for p in stored.iterdir() if p.is_file()}
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in stored.iterdir() if p.is_file()} == before  # a dry run writes nothing
    lines = out.splitlines()
    assert sum(line.endswith(f"  done in {stored}") for line in lines) == 1  # lstm/generic at maxlen 100
    assert sum(line.endswith("~9 s") for line in lines) == 1  # lstm/generic at maxlen 200: 3 + 1 + 2.5 x 2
    assert "plan: 4 cells: 1 to run, 2 skipped here, 1 already done in" in out
    assert "  skipped 2 cells (lstm): the cuDNN kernel runs only on a GPU; this cell's device is cpu" in out
    assert f"estimated wall time: 17 s (1 from similar cells stored in {stored})" in out  # 8 s of the sweep's own
    assert main([*argv, "--force"]) == 0
    assert "plan: 4 cells: 2 to run, 2 skipped here, 0 already done" in capsys.readouterr().out


def test_progress_lines_carry_an_eta_corrected_by_the_cells_done():
    cells = SweepSpec(models=("lstm", "gru", "simple_rnn"), maxlen=(100,), epochs=0).expand()
    stream = io.StringIO()
    progress = Progress(total=3, reused=0, quiet=False, stream=stream, estimate=lambda cells: {c.cell_id: 10.0 for c in cells})
    progress.plan(cells, [])
    assert progress.eta_s(0.0) == 30.0
    progress.estimated_done = 10.0
    # the first cell took twice its estimate: the rest will take longer, pulled toward the model by its prior
    prior = PACE_PRIOR_S
    assert progress.eta_s(20.0) == pytest.approx(20.0 * (20.0 + prior) / (10.0 + prior))
    progress.estimated_done = 0.0
    progress.advance(cells[0], "ok", None)
    assert ", eta " in stream.getvalue().splitlines()[-1]
    progress.advance(cells[1], "ok", None)
    progress.advance(cells[2], "ok", None)
    assert ", eta" not in stream.getvalue().splitlines()[-1]  # the last line: nothing left


def test_the_eta_s_clock_starts_with_the_first_cell_not_with_the_calibration_before_it():
    # Parallel slots calibrate before the first cell: with the sweep's clock, 100 s of it before a 10 s
    # cell would make the pace ten times what the cells take.
    cells = SweepSpec(models=("lstm", "gru", "simple_rnn"), maxlen=(100,), epochs=0).expand()
    stream = io.StringIO()
    progress = Progress(total=3, reused=0, quiet=False, stream=stream, estimate=lambda cells: {c.cell_id: 10.0 for c in cells})
    progress.plan(cells, [])
    progress.t0 -= 100.0
    progress.start(cells[0])
    progress.advance(cells[0], "ok", None)  # at once: as fast as estimated, or faster
    line = stream.getvalue().splitlines()[-1]
    assert line.startswith("[1/3 100s, eta ") and f"eta {estimate.describe_seconds(20.0 * PACE_PRIOR_S / (10.0 + PACE_PRIOR_S))}]" in line
