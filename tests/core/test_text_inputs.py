"""Texts that are no valid Unicode, or no str at all, are refused naming the item, for every
backend and every verb, before a tokenizer or a JSON encoder sees them."""

from __future__ import annotations

import asyncio

import pytest

from clipbridge import Embedder, InvalidInputError
from clipbridge.texts import check_text

BAD_TEXTS = {
    "high surrogate": "caf\ud800 au lait",
    "low surrogate": "\udcff",
    "surrogateescape": b"caf\xe9".decode("utf-8", errors="surrogateescape"),
    "reversed pair": "x\udc00\ud800",
}
NOT_STR = [None, b"bytes", 3, 2.5, ["a list"], {"text": "a dict"}]


@pytest.fixture(scope="module")
def local(tiny_model_path):
    with Embedder(tiny_model_path) as emb:
        yield emb


@pytest.fixture
def api(api_server):
    with Embedder(**api_server.embedder_kwargs(max_retries=0)) as emb:
        yield emb


def _verbs(emb: Embedder):
    return {
        "embed_texts": emb.embed_texts,
        "query": lambda texts: emb.embed_texts(texts, task="retrieval.query"),
        "aembed_texts": lambda texts: asyncio.run(emb.aembed_texts(texts)),
        "count_tokens": emb.count_tokens,
    }


@pytest.mark.parametrize("backend", ["local", "api"])
@pytest.mark.parametrize("verb", ["embed_texts", "query", "aembed_texts", "count_tokens"])
@pytest.mark.parametrize("name", BAD_TEXTS)
def test_a_lone_surrogate_is_an_invalid_input_naming_the_item(backend, verb, name, request):
    emb = request.getfixturevalue(backend)
    with pytest.raises(InvalidInputError, match=r"^input 2: text has a lone surrogate U\+D") as e:
        _verbs(emb)[verb](["fine", "also fine ünïcödé", BAD_TEXTS[name], "fine"])
    assert e.value.index == 2 and e.value.failed_indices == [2]
    assert isinstance(e.value, ValueError)  # not the tokenizer's TypeError


@pytest.mark.parametrize("backend", ["local", "api"])
@pytest.mark.parametrize("verb", ["embed_texts", "aembed_texts", "count_tokens"])
@pytest.mark.parametrize("item", NOT_STR, ids=lambda v: type(v).__name__)
def test_a_non_str_item_is_an_invalid_input_naming_the_item(backend, verb, item, request):
    emb = request.getfixturevalue(backend)
    with pytest.raises(
        InvalidInputError, match=rf"^input 1: expected a str, got {type(item).__name__}"
    ):
        _verbs(emb)[verb](["fine", item])


def test_the_api_server_is_never_asked(api, api_server):
    with pytest.raises(InvalidInputError):
        api.embed_texts(["a", "\ud800"])
    assert api_server.hits == 0


def test_valid_unicode_is_untouched(local):
    texts = ["", "plain", "ünïcödé", "😀 emoji (a real pair)", "\U0010ffff", "tab\tnul\x00"]
    assert [check_text(t, i) for i, t in enumerate(texts)] == texts
    assert local.embed_texts(texts).shape == (len(texts), local.dimension)


def test_the_message_shows_where_and_what():
    with pytest.raises(InvalidInputError) as e:
        check_text("abc\udcffdef", 7)
    assert str(e.value) == (
        "input 7: text has a lone surrogate U+DCFF at character 3, which is not valid Unicode; "
        "decode the source with errors='replace' (or remove the character)"
    )
    with pytest.raises(InvalidInputError, match=r"got bytes \(b'x{35}\.\.\.\)"):
        check_text(b"x" * 100, 0)  # a long repr is cut
