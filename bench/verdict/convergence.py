"""Did a seed learn anything, and how long did it take to get good: convergence and time to accuracy.

MLPerf and DAWNBench judge training by the time to a target accuracy and count the runs that miss it;
averaging a seed that stayed on the chance plateau with one that learned hides both. Figures come from
a cell's stored row (``val_acc_best``, ``chance_acc``, ``acc_ceiling``) and its ``epochs.csv`` rows.

* A seed **converged** when its best validation accuracy cleared chance (a constant guess, the test
  split's majority share) by :data:`CONVERGED_MARGIN`.
* The **target** is :data:`TARGET_FRACTION` of the way from chance to the data set's ceiling (the
  synthetic set's Bayes-optimal accuracy at the cell's maxlen: 0.813 at maxlen 100); where no ceiling is
  known (IMDB, a user's file), of the way from chance to the best validation accuracy any cell of the
  comparison reached, and named so. ``--target-acc`` sets it outright.
* **Time to accuracy** is the training seconds (the fit's wall clock, validation passes included) and
  epochs until validation accuracy first reached the target, or not reached.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: How far above chance a seed's best validation accuracy must get to count as converged.
CONVERGED_MARGIN = 0.10
#: The default target: this fraction of the way from chance to the ceiling.
TARGET_FRACTION = 0.8


def converged(row: Mapping[str, Any]) -> bool | None:
    """Whether the cell's best validation accuracy cleared chance by the margin; None when not judged."""
    best, chance = row.get("val_acc_best"), row.get("chance_acc")
    if best is None or chance is None or _nan(best) or _nan(chance):
        return None
    return best >= chance + CONVERGED_MARGIN


@dataclass(frozen=True)
class Target:
    """The validation accuracy time is measured to, and where it came from."""

    accuracy: float
    basis: str


def target(rows: Iterable[Mapping[str, Any]], explicit: float | None = None) -> Target | None:
    """The target of ``rows`` (ok cells with accuracy): ``explicit``, else from their chance and ceiling,
    else from chance and their best validation accuracy; None when nothing says what chance is."""
    if explicit is not None:
        return Target(explicit, "--target-acc")
    rows = [r for r in rows if r.get("val_acc_best") is not None]
    chances = [r["chance_acc"] for r in rows if r.get("chance_acc") is not None]
    if not chances:
        return None
    chance = max(chances)
    ceilings = [r["acc_ceiling"] for r in rows if r.get("acc_ceiling") is not None]
    if ceilings:
        top, what = min(ceilings), "the ceiling"
    else:
        top, what = max(r["val_acc_best"] for r in rows), "the best validation accuracy in the run"
    value = chance + TARGET_FRACTION * (top - chance)
    return Target(round(value, 3), f"{TARGET_FRACTION:.0%} of the way from chance ({chance:.3f}) to {what} ({top:.3f})")


@dataclass(frozen=True)
class TimeToTarget:
    seconds: float | None  # None: not reached
    epochs: int | None


def time_to_target(epochs: Iterable[Mapping[str, Any]], accuracy: float) -> TimeToTarget:
    """Training seconds and epochs until the validation accuracy first reached ``accuracy``."""
    elapsed = 0.0
    for e in sorted(epochs, key=lambda e: e["epoch"]):
        elapsed += e.get("epoch_s") or 0.0
        if e.get("val_acc") is not None and e["val_acc"] >= accuracy:
            return TimeToTarget(elapsed, int(e["epoch"]))
    return TimeToTarget(None, None)


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
