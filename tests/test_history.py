"""``rnnbench history``, ``gate --history`` and the CI summaries of ``compare`` and ``gate``.

The histories are built from copies of the committed baseline run (results/baseline-regress: three cells
with 25 timed repeats of raw steps each), each copy given its own commit, host, CPU and start time in
run.json and, where a test plants one, a slowdown or a failure in cells.csv and steps.csv.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from rnnbench.cli import main
from rnnbench.reporting import history, history_charts, history_store
from rnnbench.storage import ownership
from rnnbench.storage.store import load_run
from test_gate import _fake_sweeps, _gate_run
from test_report import CHROMIUM

BASELINE = Path(__file__).resolve().parent.parent / "results" / "baseline-regress"
LSTM, GRU, SIMPLE = "525d0835c8f8", "23633bdcb451", "4b1616aada83"  # the baseline's cell ids


def _rewrite_csv(path: Path, edit) -> None:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
        header = list(rows[0])
    rows = [r for r in (edit(r) for r in rows) if r is not None]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def make_run(path: Path, commit: str, started: str, host: str = "ci-vm", cpu: str = "AMD EPYC", slow: dict | None = None,
             failed: str | None = None, jitter: int = 0) -> Path:
    """A copy of the baseline with its own commit, host, CPU and start time. ``slow`` maps a cell id to a
    factor its step times are multiplied by (its samples/s divided by); ``failed`` names a cell that
    failed (no figures, no steps); ``jitter`` seeds 1% noise on every step, so no two runs tie exactly."""
    shutil.copytree(BASELINE, path)
    meta = json.loads((path / "run.json").read_text())
    meta["environment"].update(git_commit=commit, host=host, started_at=started)
    meta["environment"]["cpu"]["model"] = cpu
    meta["first_started_at"] = started
    (path / "run.json").write_text(json.dumps(meta))
    slow = slow or {}
    rng = np.random.default_rng(jitter)

    def steps(r):
        if r["cell_id"] == failed:
            return None
        r["step_s"] = f"{float(r['step_s']) * slow.get(r['cell_id'], 1.0) * (1 + 0.01 * rng.standard_normal()):.6g}"
        return r

    def cells(r):
        r.update(git_commit=commit, host=host, cpu_model=cpu)  # a row names where it was measured
        if r["cell_id"] == failed:
            blank = ("params", "flops_per_sample", "train_samples_per_s", "train_samples_per_s_cv", "infer_samples_per_s",
                     "test_acc", "val_acc", "test_loss", "efficiency", "gflops_achieved")
            r.update(status="failed", error="killed by SIGKILL (out of memory?) | log cells/x.log", **dict.fromkeys(blank, ""))
        elif r["cell_id"] in slow:
            r["train_samples_per_s"] = f"{float(r['train_samples_per_s']) / slow[r['cell_id']]:.6g}"
        return r

    _rewrite_csv(path / "steps.csv", steps)
    _rewrite_csv(path / "cells.csv", cells)
    return path


#: Five runs on the CI machine and one on another; the LSTM is made 30% slower at commit c3 (and fast
#: again at c5), the GRU fails at c6.
PLAN = [  # name, commit, start time, host, cpu, slow, failed
    ("r1", "c1" * 20, "2026-11-01T10:00:00+00:00", "ci-vm", "AMD EPYC", {}, None),
    ("r2", "c2" * 20, "2026-11-02T10:00:00+00:00", "ci-vm", "AMD EPYC", {}, None),
    ("r3", "c3" * 20, "2026-11-03T10:00:00+00:00", "ci-vm", "AMD EPYC", {LSTM: 1.3}, None),
    ("r4", "c4" * 20, "2026-11-04T10:00:00+00:00", "xeon-box", "Intel Xeon", {LSTM: 1.6, GRU: 1.6, SIMPLE: 1.6}, None),
    ("r5", "c5" * 20, "2026-11-05T10:00:00+00:00", "ci-vm", "AMD EPYC", {}, None),
    ("r6", "c6" * 20, "2026-11-06T10:00:00+00:00", "ci-vm", "AMD EPYC", {}, GRU),
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("history_runs")
    return [make_run(root / name, commit, started, host, cpu, slow, failed, jitter=i)
            for i, (name, commit, started, host, cpu, slow, failed) in enumerate(PLAN)]


@pytest.fixture(scope="module")
def built(runs, tmp_path_factory):
    """The history of the six runs, given out of order, in a directory git does not know."""
    out = tmp_path_factory.mktemp("history_out")
    shuffled = [runs[i] for i in (4, 0, 5, 2, 3, 1)]
    return history.build(shuffled, out, repo=out)


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_history_csv_has_a_row_per_run_and_cell_in_run_order(built):
    rows = _csv(built.out / "history.csv")
    assert len(rows) == 6 * 3
    assert [r["run_dir"] for r in rows[::3]] == ["r1", "r2", "r3", "r4", "r5", "r6"]  # by time, not argument order
    assert [r["run"] for r in rows] == [str(i) for i in range(1, 7) for _ in range(3)]
    assert [r["model"] for r in rows[:3]] == ["gru", "lstm", "simple_rnn"]  # one cell order inside every run
    assert {r["time_source"] for r in rows} == {"start"}  # git does not know these commits: start times place them
    assert rows[0]["commit"] == "c1" * 20 and rows[0]["time"] == "2026-11-01T10:00:00+00:00"
    assert {r["machine"] for r in rows if r["run_dir"] == "r4"} == {"xeon-box (Intel Xeon)"}
    assert {r["machine"] for r in rows if r["run_dir"] != "r4"} == {"ci-vm (AMD EPYC)"}
    # Only the parameters that vary between cells (the model here) are columns; the spread is from raw steps.
    assert "maxlen" not in rows[0] and "batch_size" not in rows[0]
    first = rows[0]
    assert float(first["train_samples_per_s_q1"]) < float(first["train_samples_per_s"]) < float(first["train_samples_per_s_q3"])
    assert float(first["train_samples_per_s_min"]) < float(first["train_samples_per_s_q1"])
    assert first["repeats"] == "25" and 0 < float(first["train_samples_per_s_cv"]) < 0.2
    baseline_gru = next(r for r in csv.DictReader(open(BASELINE / "cells.csv", newline="")) if r["model"] == "gru")
    assert first["test_acc"] == baseline_gru["test_acc"] and first["status"] == "ok" and first["vs_previous"] == ""


def test_the_planted_slowdown_is_the_one_regression_and_machines_are_kept_apart(built):
    rows = _csv(built.out / "history.csv")
    marked = [(r["run_dir"], r["model"]) for r in rows if r["vs_previous"] == "regression"]
    assert marked == [("r3", "lstm")]  # the other machine's 1.6x slower figures are no regression: its own first points
    lstm3 = next(r for r in rows if r["run_dir"] == "r3" and r["model"] == "lstm")
    assert lstm3["change"].startswith("-23") and float(lstm3["p_value"]) < 0.01 and lstm3["previous_run"] == "2"
    lstm5 = next(r for r in rows if r["run_dir"] == "r5" and r["model"] == "lstm")
    assert lstm5["vs_previous"] == "improvement" and lstm5["previous_run"] == "3"  # compared with r3, not r4's machine
    assert all(r["vs_previous"] == "" for r in rows if r["run_dir"] == "r4")
    assert {r["vs_previous"] for r in rows if r["run_dir"] == "r2"} == {"unchanged"}


def test_a_failed_cell_is_a_row_without_figures_and_is_skipped_as_a_reference(built):
    rows = _csv(built.out / "history.csv")
    gru6 = next(r for r in rows if r["run_dir"] == "r6" and r["model"] == "gru")
    assert gru6["status"] == "failed" and gru6["train_samples_per_s"] == "" and "SIGKILL" in gru6["error"]
    assert gru6["vs_previous"] == ""
    md = (built.out / "HISTORY.md").read_text()
    skipped = md.split("## Skipped and failed cells")[1]
    assert "failed" in skipped and "SIGKILL" in skipped and "\\| log" in skipped  # a | in the error stays in its column


def test_history_md_and_index_html_carry_the_charts_and_the_regression(built):
    md = (built.out / "HISTORY.md").read_text()
    assert "![Chart: Training throughput over runs](trend.png)" in md and "(accuracy.png)" in md
    changes = md.split("## Speed changes between consecutive runs")[1].split("##")[0]
    assert "| regression  |" in changes and "-23" in changes and "improvement" in changes
    assert (built.out / "trend.png").stat().st_size > 20_000
    page = (built.out / "index.html").read_text()
    assert page.count('src="data:image/png;base64,') == 2 and "trend.png" not in page.split("<body>")[1].split("alt=")[0]


def test_hostile_host_and_run_names_are_text_in_the_page(runs, tmp_path):
    hostile = make_run(tmp_path / "$x$ <b>run</b>", "c7" * 20, "2026-11-07T10:00:00+00:00",
                       host="<script>alert(1)</script>", cpu="CPU | $\\frac{1}{0}$")
    out = history.build([runs[0], runs[1], hostile], tmp_path / "out", repo=tmp_path).out
    page = (out / "index.html").read_text()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>run</b>" not in page
    md = (out / "HISTORY.md").read_text()
    assert "<script>" not in md and "CPU \\| " in md
    assert (out / "trend.png").stat().st_size > 10_000  # a $ in a host or CPU name is no math for matplotlib


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_hostile_host_runs_no_script_and_every_chart_renders_in_a_browser(runs, tmp_path):
    hostile = make_run(tmp_path / "evil", "c7" * 20, "2026-11-07T10:00:00+00:00",
                       host="<script>document.title='pwned'</script>")
    out = history.build([runs[0], runs[2], hostile], tmp_path / "out", repo=tmp_path).out
    probe = ("<script>window.addEventListener('load',()=>{const imgs=[...document.images];"
             "const ok=imgs.filter(i=>i.complete&&i.naturalWidth>0).length;"
             "document.body.setAttribute('data-images',ok+'/'+imgs.length);});</script></body>")
    page = tmp_path / "probe.html"
    page.write_text((out / "index.html").read_text().replace("</body>", probe))
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000", "--dump-dom",
                          page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert 'data-images="2/2"' in dom, dom[-500:]
    assert "pwned" not in dom.split("</title>")[0] and "rnnbench history" in dom.split("</title>")[0]


def test_runs_are_ordered_by_commit_time_when_git_knows_the_commits(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    commits = []
    for day in ("2026-10-01T12:00:00+00:00", "2026-10-02T12:00:00+00:00"):
        env = {**os.environ, "GIT_COMMITTER_DATE": day, "GIT_AUTHOR_DATE": day}
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", day], check=True, env=env)
        commits.append(subprocess.run([*git[:3], "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip())
    # The older commit was measured last: commit time, not start time, decides.
    old = make_run(tmp_path / "old-commit", commits[0], "2026-11-20T00:00:00+00:00")
    new = make_run(tmp_path / "new-commit", commits[1] + "+dirty", "2026-11-10T00:00:00+00:00")
    unknown = make_run(tmp_path / "unknown", "ab" * 20, "2026-10-01T18:00:00+00:00")
    found = history.build([new, unknown, old], tmp_path / "out", repo=repo)
    assert [e.run.path.name for e in found.entries] == ["old-commit", "unknown", "new-commit"]
    assert [e.time_source for e in found.entries] == ["commit", "start", "commit"]
    assert found.entries[0].time.isoformat() == "2026-10-01T12:00:00+00:00"
    assert "1 of 3 run(s) placed by their start time" in found.notes[0]


def test_cli_history_one_run_is_allowed_and_said(runs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["history", str(runs[0])]) == 0
    out = capsys.readouterr().out
    assert "one run only" in out and "0 regression(s)" in out
    assert (tmp_path / "history" / "history.csv").is_file() and (tmp_path / "history" / "index.html").is_file()
    assert "one run only" in (tmp_path / "history" / "HISTORY.md").read_text()


def test_cli_history_names_the_regression(runs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["history", *map(str, runs), "--out", "h"]) == 0
    out = capsys.readouterr().out
    assert "1 regression(s) marked" in out and "regression: lstm on ci-vm (AMD EPYC), run 3" in out


def test_cli_history_bad_input_is_one_line_exit_2(runs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    assert main(["history", str(runs[0]), str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a run directory (no cells.csv)" in err
    assert main(["history", str(runs[0]), str(runs[0])]) == 2
    assert "given twice" in capsys.readouterr().err
    assert main(["history", str(runs[0]), "--max-slowdown", "3"]) == 2


def test_many_cells_get_a_panel_per_model(runs, tmp_path, monkeypatch):
    monkeypatch.setattr(history_charts, "MAX_CELL_PANELS", 2)
    found = history.build(runs[:4], tmp_path / "out", repo=tmp_path)
    assert (found.out / "trend.png").stat().st_size > 10_000 and len(found.regressions) == 1


# --- gate --history -------------------------------------------------------------------------------

@pytest.fixture
def gate_base(tmp_path, monkeypatch):
    from rnnbench.verdict import gate

    path = _gate_run(tmp_path / "base")
    recorded = json.loads((path / "run.json").read_text())["environment"]
    monkeypatch.setattr(gate.environment, "collect", lambda: dict(recorded))
    return path


def test_gate_history_adds_an_entry_per_gate_that_history_reads(gate_base, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    _fake_sweeps(monkeypatch, first_speed=1.0, rerun_speed=1.0)
    hist = tmp_path / "perf-history"
    for n in (1, 2):  # a fresh --out each time: the fake sweep appends where the real one (--force) rewrites
        assert main(["gate", "--baseline", str(gate_base), "--out", str(tmp_path / f"gate{n}"), "--quiet", "--history", str(hist)]) == 0
    entries = sorted(p for p in hist.iterdir() if p.name != ownership.MARKER)  # the store's own marker aside
    assert len(entries) == 2 and all(p.is_dir() and "-nocommit" in p.name for p in entries)
    assert "recorded in the history as" in capsys.readouterr().err
    for entry in entries:
        run = load_run(entry)
        assert sorted(p.name for p in entry.iterdir()) == [ownership.MARKER, "cells.csv", "run.json", "steps.csv"]  # the fake sweep wrote no epochs
        assert run.cells.keys() == load_run(tmp_path / "gate1").cells.keys() and run.steps
    monkeypatch.chdir(tmp_path)
    assert main(["history", str(hist), "--out", "h"]) == 0  # the folder stands for its entries
    assert len(_csv(tmp_path / "h" / "history.csv")) == 2 * 2


def test_gate_history_refuses_the_gates_own_out_before_running(gate_base, tmp_path, monkeypatch, capsys):
    reruns = _fake_sweeps(monkeypatch, first_speed=1.0, rerun_speed=1.0)
    code = main(["gate", "--baseline", str(gate_base), "--out", str(tmp_path / "h" / "gate"), "--quiet", "--history",
                 str(tmp_path / "h")])
    assert code == 2 and "lies inside, --history" in capsys.readouterr().err
    assert reruns == [] and not (tmp_path / "h" / "gate" / "cells.csv").exists()


def test_record_entry_names_the_start_time_and_short_commit(runs, tmp_path):
    entry = history_store.record_entry(runs[2], tmp_path / "hist")
    assert entry.name == "20261103T100000Z-c3c3c3c"
    assert load_run(entry).cells.keys() == load_run(runs[2]).cells.keys()
    assert (entry / "epochs.csv").read_text() == (runs[2] / "epochs.csv").read_text()
    assert history_store.record_entry(runs[2], tmp_path / "hist").name == "20261103T100000Z-c3c3c3c-2"
    assert not [p for p in (tmp_path / "hist").iterdir() if p.name.startswith(".") and p.name != ownership.MARKER]  # no partial copy left


# --- CI summaries ---------------------------------------------------------------------------------

def test_compare_appends_its_verdict_to_the_github_step_summary(runs, tmp_path, monkeypatch, capsys):
    summary = tmp_path / "step_summary.md"
    summary.write_text("## an earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert main(["compare", str(runs[1]), str(runs[2]), "--format", "json"]) == 1
    text = summary.read_text()
    assert text.startswith("## an earlier step\n")  # appended, as GitHub expects
    assert "**rnnbench compare: 1 regression(s)**" in text and "| regression | speed    | lstm/generic" in text
    assert '"regressions": 1' in capsys.readouterr().out  # stdout keeps the format asked for


def test_compare_summary_option_and_nothing_without_either(runs, tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "verdict.md"
    assert main(["compare", str(runs[0]), str(runs[1]), "--summary", str(target)]) == 0
    assert "**rnnbench compare: no regression**" in target.read_text() and "| verdict" in target.read_text()
    before = sorted(tmp_path.rglob("*"))
    assert main(["compare", str(runs[0]), str(runs[1])]) == 0
    assert sorted(tmp_path.rglob("*")) == before  # neither set: nothing written


def test_the_same_file_as_variable_and_option_gets_the_verdict_once(runs, tmp_path, monkeypatch):
    target = tmp_path / "both.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    assert main(["compare", str(runs[0]), str(runs[1]), "--summary", str(target)]) == 0
    assert target.read_text().count("rnnbench compare") == 1


def test_gate_writes_its_verdict_to_the_step_summary(gate_base, tmp_path, monkeypatch):
    _fake_sweeps(monkeypatch, first_speed=0.7, rerun_speed=0.72)
    summary, option = tmp_path / "step_summary.md", tmp_path / "gate.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code = main(["gate", "--baseline", str(gate_base), "--out", str(tmp_path / "gate"), "--quiet", "--format", "json",
                 "--summary", str(option)])
    assert code == 1
    for path in (summary, option):
        text = path.read_text()
        assert "**rnnbench gate: 1 regression(s)**" in text and "confirmed by a rerun" in text


def test_a_cell_keeps_one_label_when_a_newer_file_adds_a_parameter_column(runs, tmp_path):
    """The baseline predates the units column; a newer run writes units 32, which the same cell_id stands for."""
    newer = make_run(tmp_path / "newer", "c8" * 20, "2026-11-08T10:00:00+00:00")
    with open(newer / "cells.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(newer / "cells.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, [*rows[0], "units"], lineterminator="\n")
        writer.writeheader()
        writer.writerows({**r, "units": "32"} for r in rows)
    found = history.build([runs[0], newer], tmp_path / "out", repo=tmp_path)
    assert found.varying == ["model"] and found.frame.groupby("cell_id").label.nunique().max() == 1
    assert sorted(found.frame.label.unique()) == ["gru", "lstm", "simple_rnn"]
