"""Part of stage 3, clean: what trails the article and is not part of it."""

from __future__ import annotations

from .article import Article
from .rules import SiteRules


def remove_end_matter(article: Article, site: SiteRules) -> None:
    """Remove read-more links, permalinks, related links and footer rows after the article."""
