"""The report's model-comparison sections: paired verdicts with their heatmap, time to accuracy, and
whether each fast path trains the same model (bench/verdict/paired.py, convergence.py, fast_path.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from rnnbench.reporting.comparison_charts import chart_pairwise, chart_time_to_accuracy
from rnnbench.reporting.document import Section, markdown_table
from rnnbench.reporting.text import md_text
from rnnbench.storage.predictions import Predictions
from rnnbench.verdict import fast_path, paired

PAIRED_TITLE = "Paired comparison by model"
FAST_PATH_TITLE = "Fast paths: do they train the same model?"


def _notes(notes: Sequence[str]) -> str:
    return "\n".join(f"- {md_text(n)}" for n in notes)


def paired_sections(rows: Sequence[Mapping[str, Any]], predictions: Mapping[str, Predictions], out: Path) -> list[Section]:
    """The pairwise table of models at each setting, what the verdicts promise, and the heatmap."""
    pairs, notes = paired.compare(rows, predictions, by="model")
    if not pairs:
        why = "no two models were evaluated on one test split with stored predictions"
        return [Section(PAIRED_TITLE, _notes(notes), note=why), Section("Chart: Paired differences", note=why)]
    columns = paired.varying_settings(pairs)
    records = [{**paired.setting_record(p.setting, columns), **paired.describe(p, "model")} for p in pairs]
    text = "\n\n".join(filter(None, [markdown_table(pd.DataFrame(records)),
                                     md_text(paired.VERDICT_NOTE.format(rope=paired.ROPE, alpha=paired.ALPHA)), _notes(notes)]))
    image = chart_pairwise(pairs, "model", out)
    return [Section(PAIRED_TITLE, text),
            Section("Chart: Paired differences", image=image) if image else Section("Chart: Paired differences", note="no pair")]


def time_to_accuracy_section(ok: pd.DataFrame, epochs: pd.DataFrame, colours, target: float | None, out: Path) -> Section:
    """Validation accuracy against training seconds, one line per cell."""
    image = chart_time_to_accuracy(ok, epochs, colours, target, out)
    title = "Chart: Time to accuracy"
    return Section(title, image=image) if image else Section(title, note="no cell logged two or more epochs with their seconds")


def fast_path_section(checks: Sequence[fast_path.FastPathCheck], notes: Sequence[str]) -> Section:
    """Each fast path against its reference on the same seeds: agreement, difference, curve gap, verdict."""
    if not checks:
        return Section(FAST_PATH_TITLE, _notes(notes),
                       note="no cells that differ only in XLA, kernel or backend were evaluated on their test split")
    columns = paired.varying_settings([c.pair for c in checks])
    records = [{**paired.setting_record(check.pair.setting, columns), **fast_path.describe(check)} for check in checks]
    # What a check on one seed can say (these two trained models, not the path in general) goes under the table.
    notes = [*notes, *dict.fromkeys(n for check in checks for n in check.pair.notes)]
    why = (f"trains the same model: yes when the accuracy difference's interval lies inside ±{paired.ROPE:g} (equivalent), "
           "no when it lies outside 0 (one learns better), not resolved otherwise; the intervals are Bonferroni-corrected "
           "over the checks shown. Agreement is the share of test examples both predict alike, over the shared seeds.")
    return Section(FAST_PATH_TITLE, "\n\n".join(filter(None, [markdown_table(pd.DataFrame(records)), md_text(why), _notes(notes)])))


def with_same_model(frame: pd.DataFrame, checks: Sequence[fast_path.FastPathCheck], axis: str) -> pd.DataFrame:
    """A speedup table with "trains the same model" beside each speedup (bench/verdict/fast_path.py)."""
    if frame.empty:
        return frame
    return frame.assign(**{"trains the same model": [fast_path.same_model(checks, axis, row)
                                                     for row in frame.to_dict("records")]})
