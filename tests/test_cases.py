"""Runs the data-driven cases in tests/cases/*.yaml through the library."""

from __future__ import annotations

import json

import pytest
from conftest import DEFAULT_FETCHED, DEFAULT_URL, load_cases, make_dump, split_front_matter

import feedclean

_MISSING = object()


def _dump_bytes(case: dict) -> bytes:
    if "bytes_hex" in case:
        return bytes.fromhex(case["bytes_hex"])
    if "raw" in case:
        text = case["raw"]
    else:
        body = case.get("body") if "body" in case else case["html"]
        text = make_dump(
            body,
            title=case.get("title", "A title"),
            url=case.get("url", DEFAULT_URL),
            fetched=case.get("fetched", DEFAULT_FETCHED),
        )
    if case.get("crlf"):
        text = text.replace("\n", "\r\n")
    data = text.encode(case.get("encoding", "utf-8"))
    return b"\xef\xbb\xbf" + data if case.get("bom") else data


def _convert_both(data: bytes, rules: feedclean.RuleSet) -> tuple[dict, str, str, dict]:
    markdown = feedclean.convert_bytes(data, "md", rules=rules)
    front, body = split_front_matter(markdown)
    document = json.loads(feedclean.convert_bytes(data, "json", rules=rules))
    return front, body, markdown, document


def check_case(case: dict, expect: dict, rules: feedclean.RuleSet = feedclean.BUILTIN) -> None:
    """Convert one case's dump (Markdown and JSON) and check what its `expect` says."""
    data = _dump_bytes(case)
    if "error" in expect:
        with pytest.raises(feedclean.InputError, match=expect["error"]):
            feedclean.convert_bytes(data, rules=rules)
        return
    front, body, markdown, document = _convert_both(data, rules)
    markdown.encode("utf-8")  # no lone surrogate: the output must be writable as UTF-8
    json.dumps(document, ensure_ascii=False).encode("utf-8")
    assert body.rstrip("\n") == document["markdown"], "the .md body and the JSON markdown differ"
    if "body" in expect:
        assert document["markdown"] == expect["body"]
    for fragment in expect.get("contains", []):
        assert fragment in document["markdown"], f"missing {fragment!r}"
    everything = markdown + json.dumps(document, ensure_ascii=False)
    for fragment in expect.get("absent", []):
        assert fragment.lower() not in everything.lower(), f"still there: {fragment!r}"
    for key, value in expect.get("meta", {}).items():
        assert document.get(key, _MISSING) == value, f"{key}: {document.get(key, _MISSING)!r} != {value!r}"
        assert front.get(key, _MISSING) == value, f"front matter {key} differs from JSON"


def _cases(name: str) -> list:
    return [pytest.param(case, id=case["name"]) for case in load_cases(name)]


@pytest.mark.parametrize("case", _cases("junk.yaml"))
def test_junk_is_removed(case):
    check_case(case, case["expect"])


@pytest.mark.parametrize("case", _cases("feedjunk.yaml"))
def test_real_feed_junk_is_removed(case):
    check_case(case, case["expect"])


@pytest.mark.parametrize("case", _cases("content.yaml"))
def test_content_that_looks_like_junk_stays(case):
    check_case(case, case["expect"])


@pytest.mark.parametrize("case", _cases("metadata.yaml"))
def test_metadata(case):
    check_case(case, case["expect"])


@pytest.mark.parametrize("case", _cases("reading.yaml"))
def test_reading(case):
    check_case(case, case["expect"])


@pytest.mark.parametrize("case", _cases("markdown.yaml"))
def test_markdown(case):
    check_case({"body": f"<p>Lead-in paragraph.</p>{case['html']}"}, {"body": f"Lead-in paragraph.\n\n{case['body']}"})


def check_feed_case(case: dict) -> None:
    """Convert one case's feed file and check each item against what its `items` say."""
    articles = json.loads(feedclean.convert_bytes(case["feed"].encode(), "json"))
    assert len(articles) == len(case["items"])
    for article, expect in zip(articles, case["items"], strict=True):
        everything = json.dumps(article, ensure_ascii=False)
        if "body" in expect:
            assert article["markdown"] == expect["body"]
        for fragment in expect.get("contains", []):
            assert fragment in article["markdown"], f"missing {fragment!r}"
        for fragment in expect.get("absent", []):
            assert fragment.lower() not in everything.lower(), f"still there: {fragment!r}"
        for fragment in expect.get("absent_from_text", []):
            assert fragment.lower() not in article["markdown"].lower(), f"in the text: {fragment!r}"
        for key, value in expect.get("meta", {}).items():
            assert article.get(key, _MISSING) == value, f"{key}: {article.get(key, _MISSING)!r} != {value!r}"


@pytest.mark.parametrize("case", _cases("feeds.yaml"))
def test_feed_items(case):
    check_feed_case(case)


@pytest.mark.parametrize("case", _cases("feeds_more.yaml"))
def test_more_feed_items(case):
    check_feed_case(case)


@pytest.mark.parametrize("case", _cases("proxies.yaml"))
def test_proxy_urls_are_unwrapped(case):
    html = case.get("html") or f'<img src="{case["src"]}">'
    document = json.loads(feedclean.convert_bytes(make_dump(f"<p>Text.</p>{html}").encode(), "json"))
    assert [image["url"] for image in document["images"]] == [case["expect"]]
    assert f"]({case['expect']})" in document["markdown"]
    if "link" in case:
        assert f"]({case['link']})" in document["markdown"]
    assert "weserv" not in document["markdown"] and "wsrv" not in document["markdown"]
