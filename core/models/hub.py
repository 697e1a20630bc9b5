"""Where a checkpoint's files are: a local folder or a Hugging Face repo id (no torch needed).

A model is a local folder or a Hugging Face repo id; from the hub only the files a family needs
are fetched. Each file is looked up in the local cache first; only on a miss is the hub's host
probed (a TCP connect, a few seconds at most, once per load), and offline (``HF_HUB_OFFLINE=1``,
or no answer) a missing file fails at once with one sentence instead of minutes of retries.

Example::

    source = model_source("tests/fixtures/tiny-jina-clip-v1")      # a Path: an existing folder
    folder = fetch_model_files(source, ("config.json",))
"""

from __future__ import annotations

import functools
import json
import os
import socket
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import hub_repo_id
from ..errors import ModelLoadError

__all__ = [
    "HUB_PROBE_TIMEOUT",
    "fetch_config",
    "fetch_model_files",
    "hub_file",
    "hub_probe",
    "hub_reachable",
    "model_source",
    "read_json",
]

HUB_PROBE_TIMEOUT = 3.0  # seconds to reach the hub's host before working from the cache alone


# -- where the files are --------------------------------------------------------------------------
def _looks_like_repo_id(model: str) -> bool:
    return model.count("/") == 1 and not model.startswith((".", "/", "~"))


def model_source(model: str) -> Path | str:
    """An existing local folder, or the hub repo id ``model`` names (aliases resolved)."""
    folder = Path(os.path.expanduser(model))
    if folder.is_dir():
        return folder
    repo = hub_repo_id(model)
    if not _looks_like_repo_id(repo):
        raise ModelLoadError(
            f"model {model!r} is neither an existing folder nor a Hugging Face repo id "
            "like 'jinaai/jina-clip-v1'"
        )
    return repo


def hub_reachable(timeout: float = HUB_PROBE_TIMEOUT) -> bool:
    """False when ``HF_HUB_OFFLINE`` is set or the hub's host does not accept a TCP connection.

    Behind a proxy the probe cannot tell, so the hub client is left to try.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY")):
        return True
    from huggingface_hub import constants

    url = urllib.parse.urlsplit(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def hub_probe() -> Callable[[], bool]:
    """:func:`hub_reachable`, asked at most once, and only when the returned function is called.

    One load shares one probe: several cache misses cost one TCP connect, none cost nothing.
    """
    return functools.cache(lambda: hub_reachable())


def hub_file(
    repo: str,
    name: str,
    *,
    revision: str | None = None,
    cache_dir: str | None = None,
    online: bool | None = None,
    probe: Callable[[], bool] | None = None,
) -> Path:
    """The local path of file ``name`` of hub repo ``repo``: the cached copy, else downloaded.

    ``online=None`` reads the cache first and asks ``probe`` (default :func:`hub_reachable`)
    only on a miss; ``False`` reads the cache alone; ``True`` asks the hub client directly.
    Raises :class:`ModelLoadError` with one sentence when the file cannot be had.
    """
    try:
        import huggingface_hub
    except ImportError as exc:  # pragma: no cover - part of the 'local' extra
        raise ModelLoadError("downloading models needs: pip install 'clipbridge[local]'") from exc
    where = {"revision": revision, "cache_dir": cache_dir}
    missed: Exception | None = None
    if online is not True:
        try:
            return Path(huggingface_hub.hf_hub_download(repo, name, local_files_only=True, **where))
        except Exception as exc:
            missed = exc
        if online is None:
            online = (probe or hub_reachable)()
    if online:
        try:
            return Path(huggingface_hub.hf_hub_download(repo, name, **where))
        except Exception as exc:
            missed = exc
    how = "could not be downloaded" if online else "the Hugging Face Hub is unreachable"
    raise ModelLoadError(
        f"cannot get {name} of {repo!r}: it is not in the local cache and {how} "
        f"({type(missed).__name__}). Pass a local folder (--model PATH / model=PATH) "
        "or use the API backend (backend='api')."
    ) from missed


def fetch_model_files(
    source: Path | str,
    files: tuple[str, ...],
    *,
    revision: str | None = None,
    cache_dir: str | None = None,
    online: bool | None = None,
    probe: Callable[[], bool] | None = None,
) -> Path:
    """The folder holding ``files`` of ``source`` (a folder, or a repo id fetched file by file).

    For a repo id each file comes from the local cache when it is there; ``online`` and
    ``probe`` are :func:`hub_file`'s (pass one :func:`hub_probe` to every call of one load).
    Once the first file is found, the others are taken from the same commit (its snapshot
    folder's name), so a partly cached model is completed from the revision it was cached at,
    never mixed with a newer one: pass the returned folder's name as ``revision`` to later calls.
    """
    if isinstance(source, Path):
        missing = [name for name in files if not (source / name).is_file()]
        if missing:
            raise ModelLoadError(f"model folder {str(source)!r} lacks {', '.join(missing)}")
        return source
    snapshot: Path | None = None
    for name in files:
        path = hub_file(
            source, name, revision=revision, cache_dir=cache_dir, online=online, probe=probe
        )
        snapshot = path.parents[len(Path(name).parts) - 1]  # <cache>/.../snapshots/<commit>
        revision = snapshot.name
    if snapshot is None:
        raise ValueError("fetch_model_files needs at least one file name")
    return snapshot


def fetch_config(
    source: Path | str, *, revision: str | None = None, cache_dir: str | None = None
) -> tuple[Path, dict[str, Any], Callable[[tuple[str, ...]], Path]]:
    """``(folder, config, fetch)``: where ``config.json`` of ``source`` lies, its parsed content,
    and a function fetching other files of the same checkpoint into a folder.

    Every load reads the hub this one way: cached files as they are, the hub probed once (on the
    first file not cached), and every file taken from ``config.json``'s commit.
    """
    probe = hub_probe()
    folder = fetch_model_files(
        source, ("config.json",), revision=revision, cache_dir=cache_dir, probe=probe
    )
    if isinstance(source, str):
        revision = folder.name

    def fetch(files: tuple[str, ...]) -> Path:
        return fetch_model_files(source, files, revision=revision, cache_dir=cache_dir, probe=probe)

    return folder, read_json(folder / "config.json"), fetch


def read_json(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} must hold a JSON object")
    return data
