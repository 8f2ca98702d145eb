"""The model-comparison charts: the pairwise differences in test accuracy marked by verdict, and validation
accuracy against training seconds (who gets to the target first on this machine)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from rnnbench.reporting.charts import save_chart
from rnnbench.reporting.intervals import label
from rnnbench.verdict import paired

#: How many settings (maxlen, batch, ...) get a heatmap of their own; past this the table has them all.
MAX_PANELS = 4
#: The verdict of the row's model against the column's, from the pair's (A is the better mean).
_MIRROR = {paired.BETTER: paired.WORSE, paired.WORSE: paired.BETTER}


def chart_pairwise(pairs: Sequence[paired.Pair], by: str, out: Path) -> str | None:
    """One heatmap per setting: row minus column mean test accuracy, each cell marked with its verdict."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    settings: dict[tuple, list[paired.Pair]] = {}
    for p in pairs:
        settings.setdefault(tuple(sorted(p.setting.items(), key=lambda kv: kv[0])), []).append(p)
    if not settings:
        return None
    panels = list(settings.items())[:MAX_PANELS]
    varying = paired.varying_settings(pairs)
    size = max(len({s.value for p in ps for s in (p.a, p.b)}) for _, ps in panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(1.2 + 1.45 * size * len(panels), 0.9 + 1.1 * size), squeeze=False)
    limit = max(abs(p.difference) for p in pairs) or 0.01
    for ax, (setting, ps) in zip(axes.flat, panels, strict=False):
        names = sorted({s.value for p in ps for s in (p.a, p.b)},
                       key=lambda v: -next(s.mean for p in ps for s in (p.a, p.b) if s.value == v))
        shown = [paired.axis_value(by, v) for v in names]
        diff = pd.DataFrame(np.nan, index=shown, columns=shown)
        text = pd.DataFrame("", index=shown, columns=shown)
        for p in ps:
            a, b = paired.axis_value(by, p.a.value), paired.axis_value(by, p.b.value)
            diff.loc[a, b], diff.loc[b, a] = p.difference, -p.difference
            text.loc[a, b] = f"{p.difference:+.3f}\n{p.verdict}"
            text.loc[b, a] = f"{-p.difference:+.3f}\n{_MIRROR.get(p.verdict, p.verdict)}"
        sns.heatmap(diff, annot=text, fmt="", cmap="RdBu", vmin=-limit, vmax=limit, center=0, ax=ax, cbar=ax is axes.flat[-1],
                    linewidths=0.5, linecolor="white", annot_kws={"fontsize": 8}, cbar_kws={"label": "row - column test acc"})
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.tick_params(axis="x", rotation=20)
        ax.set_title(label(dict(setting), varying) if varying else f"by {by}", fontsize=9)
    more = f"; {len(settings) - MAX_PANELS} more settings in the table" if len(settings) > MAX_PANELS else ""
    fig.suptitle(f"Paired differences in mean test accuracy (row - column) and verdicts{more}", y=1.02, fontsize=10)
    return save_chart(fig, out / "pairwise_accuracy.png")


def chart_time_to_accuracy(ok: pd.DataFrame, epochs: pd.DataFrame, colours, target: float | None, out: Path) -> str | None:
    """Validation accuracy against the fit's cumulative seconds, one line per cell, the target dashed."""
    import seaborn as sns

    columns = [c for c in ("cell_id", "model", "seed", "jit_compile") if c in ok]
    e = epochs.dropna(subset=["val_acc", "epoch_s"]).merge(ok[columns], on="cell_id")
    if e.empty or e.epoch.nunique() < 2:
        return None
    e = e.sort_values(["cell_id", "epoch"])
    e = e.assign(seconds=e.groupby("cell_id").epoch_s.cumsum())
    # A fast path's cells (XLA on) are dashed beside their reference, so one colour per model still holds.
    style = None
    if "jit_compile" in e and e.jit_compile.nunique() > 1:
        e = e.assign(XLA=e.jit_compile.map({True: "on", False: "off"}))
        style = "XLA"
    ax = sns.lineplot(data=e, x="seconds", y="val_acc", hue="model", units="cell_id", estimator=None, palette=colours,
                      style=style, style_order=["off", "on"] if style else None, marker="o", markersize=3, linewidth=1.2)
    if target is not None:
        ax.axhline(target, color="k", ls="--", lw=0.8)
        ax.text(0.01, target, f" target {target:.3f}", transform=ax.get_yaxis_transform(), va="bottom", fontsize=8)
    ax.set_xlabel("training seconds on this machine (the fit's wall clock, validation included)")
    ax.set_ylabel("validation accuracy")
    ax.set_title("Time to accuracy: one line per cell (seed)", fontsize=10)
    ax.figure.set_size_inches(7.5, 4.2)
    return save_chart(ax.figure, out / "time_to_accuracy.png")
