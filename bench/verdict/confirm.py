"""Confirming a speed flag: a slowdown stands only where a second look (a rerun, or a second A/B) repeats it.

One timing of two versions, or of a run against its baseline, pools the steps of a few processes, so a
slow spell of the machine during one side's process can read as a large, significant slowdown
(docs/regression-gate.md measures it). The gate, ``rnnbench ab`` and bisect therefore name a cell slower
only when a second, independent timing agrees, or cannot be had (a second look that gives no figure
clears nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnbench.verdict.compare import IMPROVEMENT, REGRESSION, UNCHANGED, Comparison, Finding


def measured_speed(f: Finding) -> bool:
    """A speed finding with a measured figure, which a slow spell could explain or another path judge; a
    missing or damaged figure (the cell failed, wrote NaN) is none of those and stays a regression."""
    return f.check == "speed" and isinstance(f.new, float)


#: What a second look made of a flag: it repeated it, it did not (the flag is cleared), or it gave no
#: speed figure for the cell, which confirms nothing and clears nothing (the regression stands).
CONFIRMED, CLEARED, STANDS = "confirmed", "cleared", "stands"


@dataclass(frozen=True)
class SecondLook:
    """One flagged cell's confirmation: its outcome and what the second look gave (its change, or why none)."""

    outcome: str  # CONFIRMED | CLEARED | STANDS
    gave: str


def confirm_flags(first: list[Finding], again: list[Finding], how: str,
                  cleared: str = "a slow spell of the machine") -> dict[str, SecondLook]:
    """Keep each flagged speed regression of ``first`` only where ``again`` (a rerun or an A/B) confirms
    it, saying so in its note; ``cleared`` names what a flag that ``again`` does not confirm was. Returns
    each flagged cell's :class:`SecondLook` by cell id.

    A rerun that produced no speed figure for the cell (it failed, timed out, or the base could not
    time it) confirms nothing and clears nothing: the regression stands, with the rerun's own failure.
    """
    timed = {f.cell_id: f for f in again if measured_speed(f) and f.verdict in (REGRESSION, UNCHANGED, IMPROVEMENT)}
    failures = {f.cell_id: f for f in again if f.cell_id not in timed}
    looks = {}
    for f in first:
        if not measured_speed(f) or f.verdict != REGRESSION:
            continue  # no figure (the cell failed, its figure is damaged): nothing a rerun could excuse
        rerun = timed.get(f.cell_id)
        if rerun is None:
            failure = failures.get(f.cell_id)
            why = (failure.note or str(failure.new)) if failure is not None else "the cell is missing from it"
            looks[f.cell_id] = SecondLook(STANDS, why)
            f.note = "; ".join(filter(None, [f.note, f"{how} produced no speed figure ({why}): the regression stands"]))
        elif rerun.verdict == REGRESSION:
            looks[f.cell_id] = SecondLook(CONFIRMED, rerun.change)
            f.note = "; ".join(filter(None, [f.note, f"confirmed by {how} ({rerun.change})"]))
        else:
            f.verdict = UNCHANGED
            # An A/B whose own flag a second A/B cleared says so, or its figure would read as a confirmation.
            second = next((part for part in (rerun.note or "").split("; ") if part.startswith("not confirmed: a second A/B")), "")
            gave = f"{rerun.change}, {second.removeprefix('not confirmed: ')}" if second else f"{rerun.change} ({cleared})"
            looks[f.cell_id] = SecondLook(CLEARED, gave)
            f.note = "; ".join(filter(None, [f.note, f"not confirmed: {how} gave {gave}"]))
    return looks


def stands_unlooked(first: list[Finding], cells: set[str], how: str, why: str) -> dict[str, SecondLook]:
    """The flags of ``cells`` in ``first`` left standing because ``how`` could not run at all (``why``)."""
    looks = {}
    for f in first:
        if f.cell_id in cells and measured_speed(f) and f.verdict == REGRESSION:
            looks[f.cell_id] = SecondLook(STANDS, why)
            f.note = "; ".join(filter(None, [f.note, f"{how} was not possible ({why}): the regression stands"]))
    return looks


def speed_flagged(result: Comparison) -> set[str]:
    """Cells whose speed regression is a measured figure, which a slow spell could explain."""
    return {f.cell_id for f in result.regressions if measured_speed(f)}
