"""Confirming a speed flag: a slowdown stands only where a second look (a rerun, or a second A/B) repeats it.

One timing of two versions, or of a run against its baseline, pools the steps of a few processes, so a
slow spell of the machine during one side's process can read as a large, significant slowdown
(docs/regression-gate.md measures it). The gate, ``rnnbench ab`` and bisect therefore name a cell slower
only when a second, independent timing agrees.
"""

from __future__ import annotations

from rnnbench.verdict.compare import IMPROVEMENT, REGRESSION, UNCHANGED, Comparison, Finding


def measured_speed(f: Finding) -> bool:
    """A speed finding with a measured figure, which a slow spell could explain or another path judge; a
    missing or damaged figure (the cell failed, wrote NaN) is none of those and stays a regression."""
    return f.check == "speed" and isinstance(f.new, float)


def confirm_flags(first: list[Finding], again: list[Finding], how: str, cleared: str = "a slow spell of the machine") -> None:
    """Keep each flagged speed regression of ``first`` only where ``again`` (a rerun or an A/B) confirms
    it; ``cleared`` names what a flag that ``again`` does not confirm was.

    A rerun that produced no speed figure for the cell (it failed, timed out, or the base could not
    time it) confirms nothing and clears nothing: the regression stands, with the rerun's own failure.
    """
    timed = {f.cell_id: f for f in again if measured_speed(f) and f.verdict in (REGRESSION, UNCHANGED, IMPROVEMENT)}
    failures = {f.cell_id: f for f in again if f.cell_id not in timed}
    for f in first:
        if not measured_speed(f) or f.verdict != REGRESSION:
            continue  # no figure (the cell failed, its figure is damaged): nothing a rerun could excuse
        rerun = timed.get(f.cell_id)
        if rerun is None:
            failure = failures.get(f.cell_id)
            why = (failure.note or str(failure.new)) if failure is not None else "the cell is missing from it"
            f.note = "; ".join(filter(None, [f.note, f"{how} produced no speed figure ({why}): the regression stands"]))
        elif rerun.verdict == REGRESSION:
            f.note = "; ".join(filter(None, [f.note, f"confirmed by {how} ({rerun.change})"]))
        else:
            f.verdict = UNCHANGED
            # An A/B whose own flag a second A/B cleared says so, or its figure would read as a confirmation.
            second = next((part for part in (rerun.note or "").split("; ") if part.startswith("not confirmed: a second A/B")), "")
            gave = f"{rerun.change}, {second.removeprefix('not confirmed: ')}" if second else f"{rerun.change} ({cleared})"
            f.note = "; ".join(filter(None, [f.note, f"not confirmed: {how} gave {gave}"]))


def speed_flagged(result: Comparison) -> set[str]:
    """Cells whose speed regression is a measured figure, which a slow spell could explain."""
    return {f.cell_id for f in result.regressions if measured_speed(f)}
