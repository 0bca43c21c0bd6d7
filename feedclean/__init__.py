"""feedclean: RSS dumps in, clean Markdown or JSON articles out.

>>> import feedclean
>>> markdown = feedclean.convert_text(open("dump.txt", encoding="utf-8").read())
>>> article = feedclean.process(open("dump.txt", "rb").read())

The names below load on first use: the command line imports this package on
every start, and a run that converts nothing (an unchanged re-run) never
needs the conversion stack. (`feedclean.render` is the module that renders
an Article; `feedclean.render.render(article, "md")` calls it.)
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# Each public name and the module that defines it.
_PUBLIC = {
    "Article": "article",
    "Image": "article",
    "InputError": "article",
    "Source": "article",
    "convert_bytes": "pipeline",
    "convert_paths": "pipeline",
    "convert_text": "pipeline",
    "process": "pipeline",
    "process_all": "pipeline",
    "BUILTIN": "rules",
    "RulesError": "rules",
    "RuleSet": "rules",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'feedclean' has no attribute {name!r}")
    value = getattr(import_module(f".{_PUBLIC[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
