"""Feed files: what reading one may never do."""

from __future__ import annotations

import pytest

import feedclean

_PRIVATE_FEED = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>Private</title>'
    "<item><title>Secret item</title><link>https://private.example/secret</link>"
    "<description>Nobody should read this.</description></item></channel></rss>"
)


def test_a_feed_naming_a_file_is_read_as_text_never_opened(tmp_path, monkeypatch):
    """feedparser opens a str or bytes argument as a path when one exists: with a folder named
    "<rss>" in the working directory, the text "<rss>/../private.xml" would convert private.xml."""
    (tmp_path / "<rss>").mkdir()
    (tmp_path / "private.xml").write_text(_PRIVATE_FEED, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(feedclean.InputError) as raised:
        feedclean.convert_bytes(b"<rss>/../private.xml", "json")
    assert "Secret" not in str(raised.value)
