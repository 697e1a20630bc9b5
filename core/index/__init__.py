"""``clipbridge index``: bulk-embed images, PDF pages and texts into a Parquet file.

Example::

    from clipbridge import EmbedderConfig
    from clipbridge.index import run_index

    summary = run_index(["photos/"], "photos.parquet", kind="image", config=EmbedderConfig())
"""

from ..index_file import read_index
from .embedding import Embedded, embed_items, embed_or_record
from .pipeline import IndexSummary, run_index
from .sources import Item, SourceError, list_items

__all__ = [
    "Embedded",
    "IndexSummary",
    "Item",
    "SourceError",
    "embed_items",
    "embed_or_record",
    "list_items",
    "read_index",
    "run_index",
]
