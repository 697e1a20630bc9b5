"""``clipbridge eval``: retrieval scores of one or more models on the user's own data.

An app above the core: it embeds through :class:`~clipbridge.Embedder` and never reaches into a
backend. See docs/eval.md.

Example::

    from clipbridge import Embedder
    from clipbridge.eval import evaluate, format_table, load_eval_data

    data = load_eval_data("examples/eval")
    report = evaluate(Embedder("jinaai/jina-clip-v1"), data)
    print(format_table([report]))
"""

from __future__ import annotations

from .data import EvalData, EvalDataError, load_eval_data
from .report import format_table, to_json
from .run import ModelReport, evaluate, evaluate_precisions

__all__ = [
    "EvalData",
    "EvalDataError",
    "ModelReport",
    "evaluate",
    "evaluate_precisions",
    "format_table",
    "load_eval_data",
    "to_json",
]
