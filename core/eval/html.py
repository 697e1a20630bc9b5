"""The ``--html`` page of ``clipbridge eval``: the table, then per model its worst-ranked queries.

One self-contained file: thumbnails are small JPEG data URIs made through the core's image
loader (same limits and EXIF handling as embedding), each written once as a CSS class however
often the image appears. A correct hit is outlined in green.

Example::

    Path("eval.html").write_text(render_html(data, reports), encoding="utf-8")
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from html import escape

from ..errors import InvalidInputError
from ..images import ImageLimits, load_image
from .data import EvalData
from .report import COLUMNS, percent_vs
from .run import Example, ModelReport

__all__ = ["render_html"]

THUMB_PX = 160
_TASK_TITLES = {
    "text_text": "Text → text: lowest nDCG@10",
    "text_to_image": "Text → image: captions whose image ranked lowest",
    "image_to_text": "Image → text: images whose captions ranked lowest",
    "image_image": "Image → image: lowest AP@10 (same label = correct)",
}
_CSS = """
body { margin: 0; background: #f4f5f7; color: #1d2330;
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 28px 24px 48px; }
table { border-collapse: collapse; background: #fff; margin: 12px 0; }
th, td { border: 1px solid #dde1e8; padding: 6px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td { font-variant-numeric: tabular-nums; }
.query { display: grid; grid-template-columns: 180px 1fr; gap: 14px; background: #fff;
         border: 1px solid #dde1e8; border-radius: 10px; padding: 12px; margin: 10px 0; }
.q { font-weight: 600; }
.meta { color: #6b7385; font-size: 12px; margin-top: 4px; }
.hits { display: flex; gap: 10px; flex-wrap: wrap; }
figure { margin: 0; width: 160px; font-size: 12.5px; }
.th { width: 160px; height: 120px; border-radius: 6px; background: #e9ecf1 center / cover;
      border: 3px solid transparent; }
figure.ok .th { border-color: #1f9d55; }
figure.ok figcaption { color: #1f9d55; font-weight: 600; }
.missing { width: 160px; height: 120px; display: flex; align-items: center;
           justify-content: center; background: #e9ecf1; color: #6b7385; border-radius: 6px; }
.failed { color: #b42318; }
.answer { margin-top: 8px; color: #1f9d55; }
.answer .th { border-color: #1f9d55; }
"""


class _Thumbs:
    """Thumbnail data URIs per image index, made once and emitted once as CSS classes."""

    def __init__(self, data: EvalData) -> None:
        self.data = data
        self.cache: dict[int, str | None] = {}

    def __call__(self, index: int) -> str | None:
        if index not in self.cache:
            try:
                img = load_image(self.data.image_path(index), index, ImageLimits())
                img.thumbnail((THUMB_PX, THUMB_PX))
                buffer = io.BytesIO()
                img.save(buffer, format="JPEG", quality=80)
                self.cache[index] = (
                    "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
                )
            except InvalidInputError:
                self.cache[index] = None
        return self.cache[index]

    def css(self) -> str:
        return "\n".join(
            f'.i{index} {{ background-image: url("{uri}"); }}'
            for index, uri in sorted(self.cache.items())
            if uri is not None
        )


def _image(thumbs: _Thumbs, index: int, name: str) -> str:
    if thumbs(index) is None:
        return '<div class="missing">unreadable</div>'
    return f'<div class="th i{index}" role="img" aria-label="{escape(name)}"></div>'


def _table(reports: Sequence[ModelReport]) -> str:
    head = "".join(f"<th>{escape(c[0])}</th>" for c in COLUMNS)
    rows = []
    for report in reports:
        cells = "".join(
            f"<td>{'-' if (v := report.scores.get(t, {}).get(m)) is None else f'{v:.3f}'}</td>"
            for _, t, m in COLUMNS
        )
        rows.append(f"<tr><td>{escape(report.model)}</td>{cells}<td>{report.seconds:.1f}</td></tr>")
    first = reports[0]
    for report in reports[1:]:
        cells = "".join(
            "<td>"
            + percent_vs(report.scores.get(t, {}).get(m), first.scores.get(t, {}).get(m))
            + "</td>"
            for _, t, m in COLUMNS
        )
        rows.append(f"<tr><td>% vs first: {escape(report.model)}</td>{cells}<td></td></tr>")
    return f"<table><tr><th>model</th>{head}<th>seconds</th></tr>{''.join(rows)}</table>"


def _example(data: EvalData, thumbs: _Thumbs, example: Example) -> str:
    kind, value = example.query
    if kind == "image":
        query = (
            _image(thumbs, value, data.images[value]) + f"<div>{escape(data.images[value])}</div>"
        )
    else:
        query = escape(value)
    if example.rank is not None:
        meta = f"first correct hit at rank {example.rank}"
        if example.answer is not None and example.rank > len(example.hits):
            kind_a, answer = example.answer
            shown = (
                _image(thumbs, answer, data.images[answer])
                if kind_a == "image"
                else f"<div>{escape(answer[:300])}</div>"
            )
            meta += f'<div class="answer">correct answer:{shown}</div>'

    else:
        metric = "nDCG@10" if example.task == "text_text" else "AP@10"
        meta = f"{metric} = {example.score:.3f}"
    hits = []
    for rank, (hit_kind, hit, score, relevant) in enumerate(example.hits, start=1):
        if hit_kind == "image":
            body = _image(thumbs, hit, data.images[hit])
            caption = f"{rank}. {escape(data.images[hit])} · {score:.3f}"
        else:
            body = ""
            caption = f"{rank}. {escape(hit[:300])} · {score:.3f}"
        mark = ' class="ok"' if relevant else ""
        hits.append(f"<figure{mark}>{body}<figcaption>{caption}</figcaption></figure>")
    return (
        f'<div class="query"><div><div class="q">{query}</div><div class="meta">{meta}</div>'
        f'</div><div class="hits">{"".join(hits)}</div></div>'
    )


def render_html(data: EvalData, reports: Sequence[ModelReport]) -> str:
    """The whole page as a string."""
    thumbs = _Thumbs(data)
    parts = [_table(reports)]
    for report in reports:
        parts.append(f"<h2>{escape(report.model)} ({escape(report.backend)})</h2>")
        if report.failed_images:
            items = "".join(
                f"<li>{escape(data.images[i])}: {escape(reason)}</li>"
                for i, reason in sorted(report.failed_images.items())
            )
            parts.append(f'<p class="failed">left out (could not be embedded):</p><ul>{items}</ul>')
        for task in data.tasks:
            examples = report.examples.get(task)
            if not examples:
                continue
            parts.append(f"<h3>{escape(_TASK_TITLES[task])}</h3>")
            parts += [_example(data, thumbs, example) for example in examples]
    head = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>clipbridge eval: {escape(str(data.root))}</title>"
        f"<style>{_CSS}\n{thumbs.css()}</style></head>"
        f"<body><main><h1>clipbridge eval</h1><p>{escape(str(data.root))}</p>"
    )
    return "\n".join([head, *parts, "</main></body></html>"])
