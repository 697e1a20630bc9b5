"""The printed table and the ``--json`` document of ``clipbridge eval``.

The table has the seed's shape: one row per model with Text-Text nDCG@10, Text→Image R@5,
Image→Text R@5 and Image→Image R@1, the seconds each model took, and below the models a
"% vs first model" row for every further model (``(score / first - 1) * 100``).

Example::

    print(format_table([report_a, report_b]))
    json.dumps(to_json([report_a, report_b]))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .run import ModelReport

__all__ = ["COLUMNS", "format_table", "percent_vs", "to_json"]

# (heading, task, metric)
COLUMNS = (
    ("Text-Text nDCG@10", "text_text", "ndcg@10"),
    ("Text→Image R@5", "text_to_image", "recall@5"),
    ("Image→Text R@5", "image_to_text", "recall@5"),
    ("Image→Image R@1", "image_image", "recall@1"),
)


def _value(report: ModelReport, task: str, metric: str) -> float | None:
    return report.scores.get(task, {}).get(metric)


def percent_vs(value: float | None, base: float | None) -> str:
    """``+12%``-style change of ``value`` against ``base``; ``-`` when either is missing or 0."""
    if value is None or base is None or base == 0:
        return "-"
    return f"{(value / base - 1) * 100:+.0f}%"


def format_table(reports: Sequence[ModelReport]) -> str:
    """A plain-text table; columns a data folder cannot score show ``-``."""
    headings = ["model", *(c[0] for c in COLUMNS), "seconds"]
    rows: list[list[str]] = []
    for report in reports:
        cells = [report.model]
        for _, task, metric in COLUMNS:
            value = _value(report, task, metric)
            cells.append("-" if value is None else f"{value:.3f}")
        cells.append(f"{report.seconds:.1f}")
        rows.append(cells)
    first = reports[0] if reports else None
    for report in reports[1:]:
        assert first is not None
        label = "% vs first model" if len(reports) == 2 else f"% vs first model: {report.model}"
        cells = [label]
        for _, task, metric in COLUMNS:
            cells.append(percent_vs(_value(report, task, metric), _value(first, task, metric)))
        cells.append("")
        rows.append(cells)
    widths = [max(len(r[i]) for r in [headings, *rows]) for i in range(len(headings))]

    def line(cells: list[str]) -> str:
        first_cell = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first_cell, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [line(headings), rule]
    out += [line(r) for r in rows[: len(reports)]]
    if len(reports) > 1:
        out.append(rule)
        out += [line(r) for r in rows[len(reports) :]]
    return "\n".join(out)


def to_json(reports: Sequence[ModelReport]) -> dict[str, Any]:
    """``{"models": {model: {task: {metric: value}, "seconds": s}}}``, only the tasks scored."""
    return {"models": {report.model: report.as_json() for report in reports}}
