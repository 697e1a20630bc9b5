"""``clipbridge demo``: index photos and captions in a real framework vector store and search them.

Example::

    from clipbridge.demo import load_corpus, run_demo

    run = run_demo("langchain", load_corpus(folder), model="tests/fixtures/tiny-jina-clip-v1")
"""

from .frameworks import FRAMEWORKS, DemoItem, DemoRun, Hit, QueryResult
from .run import find_images_folder, format_table, load_corpus, run_demo

__all__ = [
    "FRAMEWORKS",
    "DemoItem",
    "DemoRun",
    "Hit",
    "QueryResult",
    "find_images_folder",
    "format_table",
    "load_corpus",
    "run_demo",
]
