"""Untrusted bytes are opened as one of IMAGE_FORMATS only: EPS/PostScript never reach Ghostscript.

Pillow opens every format it knows; EPS and PS hand the bytes to ``gs``. Here a fake ``gs`` that
leaves a marker file stands in for Ghostscript, and every way an image can arrive (bytes, data
URI, path, file object, URL, the API backend's upload) must refuse such bytes with an
``InvalidInputError`` naming the item, without running it and without a temp path in the message.
"""

from __future__ import annotations

import base64
import io
import stat
import tempfile
from pathlib import Path

import pytest
from fault_server import FaultServer, send
from PIL import EpsImagePlugin, Image, features

from clipbridge import InvalidInputError, images
from clipbridge.images import (
    ImageLimits,
    PreprocessSpec,
    encode_for_upload,
    load_image,
    load_pixels,
)

EPS = (
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n%%EndComments\n"
    b"newpath 0 0 moveto 64 64 lineto stroke\nshowpage\n%%EOF\n"
)
PS = b"%!PS-Adobe-3.0\n%%BoundingBox: 0 0 32 32\n%%EndComments\nshowpage\n"
DOS_EPS = (
    (  # the binary EPS header: offset and length of the PostScript section
        b"\xc5\xd0\xd3\xc6" + (30).to_bytes(4, "little") + len(EPS).to_bytes(4, "little")
    )
    + b"\0" * 18
    + EPS
)
HOSTILE = {"eps": EPS, "ps": PS, "dos-eps": DOS_EPS}


def _png(size=(8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def fake_gs(tmp_path, monkeypatch) -> Path:
    """A ``gs`` first on PATH (and the one Pillow would run) that only leaves a marker file."""
    marker = tmp_path / "gs-was-run"
    gs = tmp_path / "bin" / "gs"
    gs.parent.mkdir()
    gs.write_text(f'#!/bin/sh\necho "$@" > {marker}\nexit 0\n')
    gs.chmod(gs.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{gs.parent}:{__import__('os').environ['PATH']}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", str(gs))
    return marker


def _refused(call, index: int, marker: Path) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as info:
        call()
    assert not marker.exists(), f"Ghostscript was run: {marker.read_text()}"
    assert tempfile.gettempdir() not in str(info.value)
    assert info.value.index == index
    assert "not a recognized image format" in info.value.reason
    return info.value


@pytest.mark.parametrize("kind", HOSTILE)
@pytest.mark.parametrize("source", ["bytes", "data-uri", "path", "file-object", "url"])
def test_postscript_never_reaches_ghostscript(kind, source, fake_gs, tmp_path, tiny_model_path):
    from clipbridge import Embedder

    data = HOSTILE[kind]
    if source == "bytes":
        item = data
    elif source == "data-uri":
        item = "data:image/png;base64," + base64.b64encode(data).decode()
    elif source == "path":
        item = tmp_path / "picture.png"
        item.write_bytes(data)
    else:
        item = io.BytesIO(data)
    with Embedder(tiny_model_path, allow_private_urls=True) as emb:
        if source == "url":
            answer = send(200, data, {"Content-Type": "application/postscript"})
            with FaultServer(answer) as server:
                error = _refused(
                    lambda: emb.embed_images([_png(), server.url + "/a.png"]), 1, fake_gs
                )
        else:
            error = _refused(lambda: emb.embed_images([_png(), item]), 1, fake_gs)
    assert "looks like EPS, which is not accepted" in error.reason


@pytest.mark.parametrize("kind", HOSTILE)
@pytest.mark.parametrize("shrink", [True, False])
def test_postscript_is_refused_for_upload_too(kind, shrink, fake_gs):
    spec = PreprocessSpec(size=32) if shrink else None
    _refused(lambda: encode_for_upload(HOSTILE[kind], 4, spec, ImageLimits()), 4, fake_gs)


def test_the_server_path_refuses_postscript_with_a_400_sized_message(fake_gs):
    # what `clipbridge serve` calls for a base64 image: load_pixels on the decoded bytes
    error = _refused(
        lambda: load_pixels(EPS, 2, PreprocessSpec(size=32), ImageLimits()), 2, fake_gs
    )
    assert str(error).startswith("input 2: not a recognized image format (")


# -- the accepted formats, and the others -----------------------------------------------------
def _encoded(fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    img = Image.new("RGB", (20, 12), (200, 40, 90))
    if fmt == "MPO":
        img.save(buffer, format="MPO", save_all=True, append_images=[img])
    else:
        img.save(buffer, format=fmt, **params)
    return buffer.getvalue()


ACCEPTED = ["PNG", "JPEG", "MPO", "GIF", "WEBP", "BMP", "TIFF", "ICO"]
if features.check("avif"):
    ACCEPTED.append("AVIF")


@pytest.mark.parametrize("fmt", ACCEPTED)
def test_every_accepted_format_decodes(fmt):
    img = load_image(_encoded(fmt), 0, ImageLimits())
    assert img.size == (20, 12) and img.mode == "RGB"
    assert fmt in images.IMAGE_FORMATS or fmt == "MPO"  # MPO is opened as JPEG


@pytest.mark.parametrize("fmt", ["PCX", "PPM", "SGI", "TGA", "IM", "QOI", "DDS"])
def test_raster_formats_outside_the_list_are_refused(fmt):
    data = _encoded(fmt)
    assert Image.open(io.BytesIO(data)).size == (20, 12)  # Pillow itself would open it
    with pytest.raises(InvalidInputError, match=r"not a recognized image format .*accepted: PNG"):
        load_image(data, 0, ImageLimits())


def test_the_refusal_names_a_format_pillow_recognizes():
    with pytest.raises(InvalidInputError, match=r"looks like PCX, which is not accepted"):
        load_image(_encoded("PCX"), 0, ImageLimits())
