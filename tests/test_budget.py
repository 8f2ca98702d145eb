"""The timing budget (rnnbench.cell.measure.budget): steps per repeat and repeats that fill a cell's target."""

from __future__ import annotations

import pytest
from rnnbench.cell.measure import MAX_REPEATS, MAX_STEPS, MIN_STEPS, REPEATS, budget


@pytest.mark.parametrize("target_s, step_s, expected", [
    (5.0, 0.024, (42, 5)),  # the tutorial's SimpleRNN here: five repeats of a fifth of the target
    (5.0, 0.001, (MAX_STEPS, 25)),  # too fast for a fifth in MAX_STEPS steps: more repeats instead
    (100.0, 1e-4, (MAX_STEPS, MAX_REPEATS)),  # both capped
    (0.1, 1.0, (MIN_STEPS, REPEATS)),  # slower than the target: the least budget, over the target
    (1.0, 0.0, (MAX_STEPS, MAX_REPEATS)),  # a zero estimate neither divides by zero nor runs away
])
def test_budget(target_s, step_s, expected):
    assert budget(target_s, step_s) == expected


@pytest.mark.parametrize("target_s", [0.5, 2.0, 5.0, 10.0])
@pytest.mark.parametrize("step_s", [2e-4, 1e-3, 5e-3, 0.02, 0.1])
def test_budget_fills_the_target_unless_capped(target_s, step_s):
    steps, repeats = budget(target_s, step_s)
    timed = steps * repeats * step_s
    capped = steps in (MIN_STEPS, MAX_STEPS) and repeats in (REPEATS, MAX_REPEATS)
    # Rounding up overshoots by at most one step per repeat plus one repeat.
    assert capped or target_s <= timed <= target_s + repeats * step_s + steps * step_s
