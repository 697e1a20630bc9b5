"""Text inputs: the one check every text passes before any backend sees it.

Example::

    check_text("a bridge at dusk", 0)      # returned as is
    check_text("bad \\ud800", 3)            # InvalidInputError: input 3: ... lone surrogate ...
"""

from __future__ import annotations

from .errors import InvalidInputError

__all__ = ["check_text"]


def check_text(item: object, index: int) -> str:
    """``item`` if it is a ``str`` that is valid Unicode, else :class:`InvalidInputError`.

    A lone surrogate (``"\\ud800"``: half of a UTF-16 pair, e.g. from JSON ``"\\ud800"`` or bytes
    decoded with ``errors="surrogateescape"``) is a ``str`` but no text: tokenizers refuse it and
    it cannot be sent as UTF-8 JSON.
    """
    if not isinstance(item, str):
        shown = repr(item)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise InvalidInputError(index, f"expected a str, got {type(item).__name__} ({shown})")
    if not item.isascii():
        try:
            item.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInputError(
                index,
                f"text has a lone surrogate U+{ord(item[exc.start]):04X} at character "
                f"{exc.start}, which is not valid Unicode; decode the source with "
                "errors='replace' (or remove the character)",
            ) from None
    return item
