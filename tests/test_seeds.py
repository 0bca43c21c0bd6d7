"""The two real dumps: none of their junk comes out, all of their content does."""

from __future__ import annotations

import json

import pytest
from conftest import SAMPLES
from lxml import etree

import feedclean

DW = SAMPLES / "000_005ff02dac068fcc.txt"
RFI = SAMPLES / "003_1fddeb10f9e1ef9b.txt"
JUNK = [
    "weserv",
    "feedx",
    "facebook.com/dialog",
    "whatsapp",
    "获取更多RSS",
    "selfpromo",
    "share-button",
    "api.dw.com",
    "<script",
    "分享",
]


def _convert(path, output_format="json"):
    return feedclean.convert_bytes(path.read_bytes(), output_format)


def _source_paragraphs(path):
    body = path.read_text(encoding="utf-8").split("------\n\n", 1)[1]
    root = etree.fromstring(body.encode(), etree.HTMLParser(encoding="utf-8"))
    return [" ".join("".join(p.itertext()).split()) for p in root.iter("p")]


@pytest.mark.parametrize("path", [DW, RFI], ids=["DW", "RFI"])
def test_no_junk_in_any_output(path):
    for output_format in ("md", "json"):
        output = _convert(path, output_format)
        for junk in JUNK:
            assert junk not in output, junk


@pytest.mark.parametrize("path", [DW, RFI], ids=["DW", "RFI"])
def test_every_paragraph_survives(path):
    article = json.loads(_convert(path))
    for paragraph in _source_paragraphs(path):
        if paragraph.startswith("©"):
            assert article["rights"] == paragraph
        else:
            assert paragraph in article["text"], paragraph[:30]


def test_dw_metadata():
    article = json.loads(_convert(DW))
    assert article["published"] == "2023-07-13T01:42:18.724+00:00"
    assert article["fetched"] == "2023-07-13T01:47:05+00:00"
    assert article["language"] == "zh-Hant"
    assert article["source"] == {"name": "DW", "domain": "dw.com"}
    assert [image["url"] for image in article["images"]] == [
        "https://static.dw.com/image/64567580_303.jpg",
        "https://static.dw.com/image/66112703_303.jpg",
        "https://static.dw.com/image/66182779_303.jpg",
    ]
    assert [image["caption"][:8] for image in article["images"]] == ["今年1月，北約秘", "法國總統馬克宏主", "北約秘書長斯托爾"]
    assert article["rights"].startswith("© 2023年德國之聲版權聲明")
    assert "https://www.dw.com/zh/a-65582973" in article["markdown"]
    assert "2023-07-13T01:42:18.724Z" not in article["markdown"]


def test_rfi_metadata():
    article = json.loads(_convert(RFI))
    assert article["published"] == "2024-04-03T23:33:00+02:00"
    assert article["published"] < "2024-04-03T23:45:02+02:00"
    assert article["language"] == "zh-Hans"
    assert article["source"] == {"name": "RFI", "domain": "rfi.fr"}
    assert article["lead"].startswith("为期两天的北约外长会议") and article["lead"].endswith("挑战。")
    assert len(article["images"]) == 1 and article["images"][0]["url"].startswith("https://s.rfi.fr/media/display/")
    assert article["rights"] is None
    assert "03/04/2024" not in article["markdown"]
