"""clipbridge.fetch: image URLs bounded in time and bytes, private addresses refused."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from pathlib import Path

import pytest
from fault_server import FaultServer, drip, endless, redirect, send

from clipbridge import Embedder, InvalidInputError
from clipbridge import fetch as fetch_mod
from clipbridge.fetch import address_block_reason, check_url, fetch_image_bytes

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


def fetch(url: str, **kwargs):
    return fetch_image_bytes(
        url, **{"timeout": 5.0, "max_bytes": 10_000, "allow_private": True, **kwargs}
    )


@pytest.fixture
def public_127_0_0_1(monkeypatch):
    """Treat 127.0.0.1 (only) as a public address, so redirects to other private ones can be
    tested with servers that all live on this machine."""
    real = fetch_mod.address_block_reason
    monkeypatch.setattr(
        fetch_mod, "address_block_reason", lambda a: None if a == "127.0.0.1" else real(a)
    )


# -- the address guard ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "not globally routable"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:a00:1::", "private"),  # 6to4 around 10.0.0.1
        ("93.184.216.34", None),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_address_block_reason(address, reason):
    assert address_block_reason(address) == reason


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1:9/a.png", "127.0.0.1"),
        ("http://127.1:9/a.png", "127.0.0.1"),  # short form
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("http://[::1]:9/a.png", "::1"),
        ("http://[::ffff:127.0.0.1]:9/a.png", "::ffff:127.0.0.1"),
        ("http://0.0.0.0:9/", "0.0.0.0"),
        ("http://2130706433:9/", "127.0.0.1"),  # 127.0.0.1 written as one number
    ],
)
def test_private_hosts_are_refused_before_connecting(url, address):
    with pytest.raises(InvalidInputError, match="resolves to private address") as info:
        fetch_image_bytes(url, timeout=5, max_bytes=100, index=3)
    assert info.value.index == 3
    assert "set allow_private_urls=True to allow" in info.value.reason
    assert f"resolves to private address {address} (" in info.value.reason
    with pytest.raises(InvalidInputError, match="private address"):
        check_url(url)


def test_host_names_are_checked_after_resolving():
    with pytest.raises(InvalidInputError, match=r"localhost:9/a\.png resolves to private address"):
        fetch_image_bytes("http://localhost:9/a.png", timeout=5, max_bytes=100)


@pytest.mark.parametrize("url", ["ftp://example.org/a.png", "file:///etc/passwd", "gopher://x/"])
def test_only_http_and_https(url):
    with pytest.raises(InvalidInputError, match="unsupported URL scheme"):
        fetch_image_bytes(url, timeout=1, max_bytes=100, allow_private=True)


def test_embedder_refuses_private_urls_by_default_and_allows_them_when_asked(tiny_model_path):
    with FaultServer(send(200, PNG)) as server:
        url = server.url + "/a.png"
        with pytest.raises(InvalidInputError) as info:
            Embedder(tiny_model_path).embed_images([PNG, url])
        assert info.value.index == 1
        assert str(info.value) == (
            f"input 1: {url} resolves to private address 127.0.0.1 (loopback); "
            "set allow_private_urls=True to allow"
        )
        assert server.requests == []  # never connected
        vecs = Embedder(tiny_model_path, allow_private_urls=True).embed_images([PNG, url])
        assert vecs.shape == (2, 96) and abs(float(vecs[0] @ vecs[1]) - 1.0) < 1e-6


def test_every_redirect_is_checked(public_127_0_0_1):
    with (
        FaultServer(send(200, PNG), host="127.0.0.2") as inner,
        FaultServer(redirect(lambda: inner.url + "/secret.png")) as outer,
    ):
        assert fetch(outer.url + "/a.png", allow_private=True) == PNG  # allowed: followed
        with pytest.raises(InvalidInputError) as info:
            fetch(outer.url + "/a.png", allow_private=False)
        assert f"{inner.url}/secret.png resolves to private address 127.0.0.2" in str(info.value)
        assert len(inner.requests) == 1  # only the allowed fetch reached it


def test_redirect_to_another_scheme_is_refused():
    with (
        FaultServer(redirect("file:///etc/passwd")) as server,
        pytest.raises(InvalidInputError, match="unsupported URL scheme 'file'"),
    ):
        fetch(server.url + "/a.png")


def test_redirects_are_bounded():
    with FaultServer(redirect("/again", status=307)) as server:
        with pytest.raises(InvalidInputError, match="redirected more than 2 times"):
            fetch(server.url + "/a.png", max_redirects=2)
        assert len(server.requests) == 3


def test_the_checked_address_is_the_one_connected_to(public_127_0_0_1, monkeypatch):
    """DNS rebinding: the name resolves to a public address for the check and to a private one
    afterwards; the connection must still go to the address that was checked."""
    with FaultServer(send(200, PNG)) as checked:
        with FaultServer(send(200, b"secret"), host="127.0.0.2", port=checked.port) as other:
            real = socket.getaddrinfo
            answers = iter(["127.0.0.1"])

            def rebinding(host, port, *args, **kwargs):
                if host != "rebind.test":
                    return real(host, port, *args, **kwargs)
                address = next(answers, "127.0.0.2")
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

            monkeypatch.setattr(socket, "getaddrinfo", rebinding)
            data = fetch(f"http://rebind.test:{checked.port}/a.png", allow_private=False)
        assert data == PNG and other.requests == []
        assert checked.requests[0][2]["Host"] == f"rebind.test:{checked.port}"


TLS = Path(__file__).parent.parent / "fixtures" / "tls"


@pytest.fixture
def names_for_127_0_0_1(monkeypatch):
    """``images.test`` and ``other.test`` resolve to 127.0.0.1 (and only in this process)."""
    real = socket.getaddrinfo

    def resolve(host, port, *args, **kwargs):
        if host in ("images.test", "other.test"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


def test_https_keeps_the_host_name_for_sni_and_certificate(public_127_0_0_1, names_for_127_0_0_1):
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(TLS / "images.test.crt", TLS / "images.test.key")
    seen_sni = []
    server_tls.sni_callback = lambda sock, name, ctx: seen_sni.append(name)
    trust = ssl.create_default_context(cafile=str(TLS / "images.test.crt"))
    with FaultServer(send(200, PNG), tls=server_tls) as server:
        url = f"https://images.test:{server.port}/a.png"
        assert fetch(url, allow_private=False, verify=trust) == PNG
        assert seen_sni == ["images.test"]
        assert server.requests[0][2]["Host"] == f"images.test:{server.port}"
        # The certificate is checked against the name, not the pinned address.
        with pytest.raises(InvalidInputError, match=r"could not fetch.*CERTIFICATE_VERIFY_FAILED"):
            fetch(f"https://other.test:{server.port}/a.png", allow_private=False, verify=trust)


# -- time and bytes ---------------------------------------------------------------------------
@pytest.mark.parametrize("headers_too", [False, True])
def test_timeout_is_a_deadline_for_the_whole_request(headers_too):
    # 60 bytes, one every 0.1 s: each read is quick, the whole takes 6 s (more with headers).
    with FaultServer(drip(PNG, every=0.1, headers_too=headers_too)) as server:
        start = time.monotonic()
        with pytest.raises(InvalidInputError, match=r"took longer than 1s in all"):
            fetch(server.url + "/a.png", timeout=1.0)
        assert time.monotonic() - start < 1.5


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_embedder_image_fetch_timeout_bounds_a_dripping_url(tiny_model_path, mode):
    emb = Embedder(tiny_model_path, allow_private_urls=True, image_fetch_timeout=0.5)
    with FaultServer(drip(PNG, every=0.1)) as server:
        items = [PNG, server.url + "/a.png"]
        start = time.monotonic()
        with pytest.raises(InvalidInputError, match=r"took longer than 0\.5s") as info:
            if mode == "sync":
                emb.embed_images(items)
            else:
                asyncio.run(emb.aembed_images(items))
        assert info.value.index == 1 and time.monotonic() - start < 1.0


def test_endless_body_stops_at_the_byte_cap():
    with FaultServer(endless(b"\0" * 65536, ctype="image/png")) as server:
        start = time.monotonic()
        with pytest.raises(InvalidInputError, match="above max_image_bytes=1000000"):
            fetch(server.url + "/a.png", max_bytes=1_000_000)
        assert time.monotonic() - start < 2


def test_declared_length_above_the_cap_fails_before_reading():
    with FaultServer(send(200, b"\0" * 5000)) as server:
        with pytest.raises(InvalidInputError, match="is 5000 bytes, above max_image_bytes=4999"):
            fetch(server.url + "/a.png", max_bytes=4999)
        assert fetch(server.url + "/a.png", max_bytes=5000) == b"\0" * 5000


@pytest.mark.parametrize(
    ("respond", "match"),
    [
        (send(404, b"nope"), "answered HTTP 404"),
        (send(200, b"<html>", {"Content-Type": "text/html"}), "text/html, not an image"),
    ],
)
def test_bad_answers(respond, match):
    with FaultServer(respond) as server, pytest.raises(InvalidInputError, match=match):
        fetch(server.url + "/a.png")


def test_connection_refused_names_the_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(InvalidInputError, match=rf"could not fetch http://127.0.0.1:{port}/x"):
        fetch(f"http://127.0.0.1:{port}/x")


def test_credentials_in_a_url_are_not_repeated():
    with pytest.raises(InvalidInputError) as info:
        fetch_image_bytes("http://user:hunter2@127.0.0.1:9/a.png", timeout=1, max_bytes=10)
    assert "hunter2" not in str(info.value)
