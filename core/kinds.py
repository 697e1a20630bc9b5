"""The two kinds of input clipbridge embeds, named once for every module.

Example::

    def embed(kind: Kind, items: list) -> None: ...   # kind is "text" or "image"
"""

from __future__ import annotations

from typing import Literal

__all__ = ["Kind"]

Kind = Literal["text", "image"]
"""What an input is: a text, or an image."""
