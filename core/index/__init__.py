"""``clipbridge index``: bulk-embed images, PDF pages and texts into a Parquet file.

Example::

    from clipbridge import EmbedderConfig
    from clipbridge.index import run_index

    summary = run_index(["photos/"], "photos.parquet", kind="image", config=EmbedderConfig())
"""

from ..index_file import read_index
from .embedding import Embedded, embed_items, embed_or_record
from .lock import OutputLockedError
from .pipeline import IndexInterrupted, IndexJob, IndexSummary, prepare_index, run_index
from .sources import Item, SourceError, list_items

__all__ = [
    "Embedded",
    "IndexInterrupted",
    "IndexJob",
    "IndexSummary",
    "Item",
    "OutputLockedError",
    "SourceError",
    "embed_items",
    "embed_or_record",
    "list_items",
    "prepare_index",
    "read_index",
    "run_index",
]
