"""The verdicts' thresholds and their defaults, declared once.

``compare``, ``gate``, ``ab`` and ``history`` (and their command-line flags) read their defaults from
here, so a changed default changes every place that states it, help texts included.
"""

from __future__ import annotations

from rnnbench.errors import BadInput

#: Significance level of the one-sided Mann-Whitney U test on the raw step times.
ALPHA = 0.01

#: ``compare``'s and ``history``'s throughput drop that counts as a regression (a fraction).
MAX_SLOWDOWN = 0.10

#: The gate's (and the A/B's) throughput drop: above the usual run-to-run drift of this 2-core VM, below
#: the -23% throughput a 30% slower training step gives; deeper slow spells are what its confirmation is
#: for (figures behind it: docs/regression-gate.md).
GATE_MAX_SLOWDOWN = 0.15

#: The test-accuracy drop that counts as a regression (absolute).
MAX_ACCURACY_DROP = 0.02


def check_thresholds(max_slowdown: float, max_accuracy_drop: float, alpha: float) -> None:
    """Raise BadInput for a threshold outside its range (the gate calls this before it runs anything)."""
    if not 0 < max_slowdown < 1:
        raise BadInput(f"--max-slowdown must be between 0 and 1 (a fraction), got {max_slowdown}")
    if not 0 <= max_accuracy_drop < 1:
        raise BadInput(f"--max-accuracy-drop must be between 0 and 1 (absolute accuracy), got {max_accuracy_drop}")
    if not 0 < alpha < 1:
        raise BadInput(f"--alpha must be between 0 and 1, got {alpha}")
