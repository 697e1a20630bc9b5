"""`raise_missing_extra`: how an adapter says that its framework (an extra) is not installed."""

from __future__ import annotations

from typing import NoReturn

__all__ = ["raise_missing_extra"]


def raise_missing_extra(
    exc: ModuleNotFoundError, roots: tuple[str, ...], adapter: str, package: str, extra: str
) -> NoReturn:
    """Raise an ``ImportError`` naming the extra to install if ``exc`` is a missing framework
    module (its top-level name is in ``roots``); re-raise ``exc`` otherwise (another missing
    module stays what it is).

    Example::

        try:
            from .text_embedder import ClipBridgeTextEmbedder
        except ModuleNotFoundError as exc:
            raise_missing_extra(exc, ("haystack",), "Haystack", "haystack-ai", "haystack")
    """
    if (exc.name or "").split(".")[0] not in roots:
        raise exc
    raise ImportError(
        f"clipbridge's {adapter} adapter needs {package} ({exc.name} is missing): "
        f'pip install "clipbridge[{extra}]"',
        name=exc.name,
    ) from exc
