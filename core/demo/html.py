"""The HTML page of ``clipbridge demo``: one self-contained file, thumbnails as data URIs."""

from __future__ import annotations

import base64
import io
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from .run import UNTRAINED_FACTOR, looks_untrained, recall_summary

if TYPE_CHECKING:
    from .frameworks import DemoItem, DemoRun, QueryResult

__all__ = ["render_html", "thumbnail_data_uri"]

THUMB_PX = 240
_TITLES = {
    "text->image": ("Text → image", "A sentence finds photos."),
    "image->image": ("Image → image", "A photo finds similar photos (itself left out)."),
    "text->text": ("Text → text", "A sentence finds captions."),
}

_CSS = """
* { box-sizing: border-box; }
body { margin: 0; background: #f4f5f7; color: #1d2330;
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 28px 24px 48px; }
h1 { margin: 0 0 4px; font-size: 26px; }
h2 { margin: 36px 0 2px; font-size: 20px; }
.sub { color: #5b6474; margin: 0 0 14px; }
.stats { display: flex; flex-wrap: wrap; gap: 8px; margin: 10px 0 0; }
.stat { background: #fff; border: 1px solid #dde1e8; border-radius: 8px; padding: 6px 12px; }
.stat b { display: block; font-size: 11px; text-transform: uppercase; letter-spacing: .04em;
          color: #6b7385; font-weight: 600; }
.query { display: grid; grid-template-columns: 200px 1fr; gap: 16px; align-items: start;
         background: #fff; border: 1px solid #dde1e8; border-radius: 10px; padding: 14px;
         margin: 12px 0; }
.q { font-size: 17px; font-weight: 600; }
.q img { width: 180px; height: 135px; object-fit: cover; border-radius: 6px; display: block; }
.ms { color: #6b7385; font-size: 12px; margin-top: 6px; }
.hits { display: flex; gap: 12px; flex-wrap: wrap; }
figure { margin: 0; width: 180px; }
figure img { width: 180px; height: 135px; object-fit: cover; border-radius: 6px; display: block;
             background: #e9ecf1; }
figcaption { font-size: 12.5px; margin-top: 5px; }
.rank { display: inline-block; min-width: 20px; padding: 0 5px; border-radius: 10px;
        background: #1d2330; color: #fff; font-size: 11px; text-align: center; margin-right: 4px; }
.score { font-variant-numeric: tabular-nums; font-weight: 600; }
.bar { height: 4px; background: #e3e6ec; border-radius: 2px; margin: 4px 0; }
.bar i { display: block; height: 4px; background: #2f6fde; border-radius: 2px; }
.file { color: #6b7385; }
.text-hit { width: 262px; display: flex; gap: 10px; align-items: flex-start; }
.text-hit img { width: 72px; height: 54px; flex: none; }
.text-hit figcaption { margin-top: 0; flex: 1; }
.corpus { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 14px;
          margin-top: 12px; }
.corpus figure { width: auto; }
.corpus figure img { width: 100%; }
.warning { background: #fff4e5; border: 1px solid #f0b35a; border-radius: 8px; padding: 10px 14px;
           margin: 14px 0 0; color: #6a3d00; }
footer { margin-top: 36px; color: #6b7385; font-size: 12px; }
"""


def thumbnail_data_uri(path: Path, size: int = THUMB_PX) -> str:
    """A JPEG thumbnail of ``path`` (longer side ``size`` px) as a ``data:`` URI."""
    with Image.open(path) as img:
        img.thumbnail((size, size))
        buf = io.BytesIO()
        img.convert("RGB").save(buf, "JPEG", quality=82)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _img(item: DemoItem, thumbs: dict[str, str]) -> str:
    return (
        f'<img src="{thumbs[item.name]}" alt="{escape(item.caption)}" '
        f'title="{escape(item.name)}" data-file="{escape(item.name)}">'
    )


def _hit(res: QueryResult, rank: int, items: dict[str, DemoItem], thumbs: dict[str, str]) -> str:
    hit = res.hits[rank - 1]
    item = items[hit.file]
    width = max(0.0, min(1.0, hit.score)) * 100
    score = (
        f'<span class="rank">{rank}</span><span class="score">{hit.score:.4f}</span>'
        f'<div class="bar"><i style="width:{width:.1f}%"></i></div>'
    )
    if res.kind == "text->text":
        return (
            f'<figure class="text-hit">{_img(item, thumbs)}<figcaption>{score}'
            f"{escape(item.caption)} <span class=file>({escape(item.name)})</span>"
            "</figcaption></figure>"
        )
    return (
        f"<figure>{_img(item, thumbs)}<figcaption>{score}"
        f'<span class="file">{escape(item.name)}</span></figcaption></figure>'
    )


def _query(res: QueryResult, items: dict[str, DemoItem], thumbs: dict[str, str]) -> str:
    if res.kind == "image->image":
        shown = f"{_img(items[res.query], thumbs)}<div class=file>{escape(res.query)}</div>"
    else:
        shown = f"“{escape(res.query)}”"
    hits = "".join(_hit(res, rank, items, thumbs) for rank in range(1, len(res.hits) + 1))
    return (
        f'<div class="query"><div><div class="q">{shown}</div>'
        f'<div class="ms">{res.seconds * 1000:.0f} ms</div></div>'
        f'<div class="hits">{hits or "<em>no results</em>"}</div></div>'
    )


def render_html(run: DemoRun) -> str:
    """The whole page for ``run``; every image appears at least once (the corpus grid).

    Thumbnails are inlined, so the page can be moved or mailed on its own.
    """
    items = {i.name: i for i in run.items}
    thumbs = {i.name: thumbnail_data_uri(i.path) for i in run.items}
    query_ms = sum(r.seconds for r in run.results) * 1000
    n = len(run.items)
    setup = [
        ("framework", run.framework),
        ("model", run.model),
        ("backend", f"{run.backend} · {run.device}"),
        ("dimension", str(run.dimension)),
        ("corpus", f"{n} images + {n} captions"),
        ("caption → photo recall@1", f"{recall_summary(run)} (chance: 1/{n})"),
    ]
    timings = [
        ("model load", f"{run.load_seconds:.2f} s"),
        ("indexing", f"{run.index_seconds:.2f} s"),
        ("queries", f"{len(run.results)} in {query_ms:.0f} ms"),
    ]
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>clipbridge demo · {escape(run.framework)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        "<h1>clipbridge demo</h1>",
        f'<p class="sub">jina-clip-v1 text and image embeddings in one vector space, indexed '
        f"with {escape(run.framework)}; scores are cosine similarities.</p>",
        *(
            '<div class="stats">'
            + "".join(f'<div class="stat"><b>{k}</b>{escape(v)}</div>' for k, v in group)
            + "</div>"
            for group in (setup, timings)
        ),
    ]
    if looks_untrained(run):
        parts.append(
            '<p class="warning" id="untrained"><b>This checkpoint looks untrained.</b> '
            f"Only {escape(recall_summary(run))}: at most {UNTRAINED_FACTOR}× chance "
            f"({UNTRAINED_FACTOR}/{n}). The rankings below are noise, not meaning.</p>"
        )
    for kind, (title, blurb) in _TITLES.items():
        results = [r for r in run.results if r.kind == kind]
        if results:
            parts.append(f'<h2>{title}</h2><p class="sub">{blurb}</p>')
            parts.extend(_query(r, items, thumbs) for r in results)
    parts.append('<h2>Indexed corpus</h2><div class="corpus">')
    parts.extend(
        f"<figure>{_img(i, thumbs)}<figcaption>{escape(i.caption)} "
        f'<span class="file">({escape(i.name)})</span></figcaption></figure>'
        for i in run.items
    )
    parts.append("</div><footer>Generated by <code>clipbridge demo</code>.</footer>")
    parts.append("</main></body></html>")
    return "\n".join(parts)
