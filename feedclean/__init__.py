"""feedclean: RSS dumps in, clean Markdown or JSON articles out.

>>> import feedclean
>>> markdown = feedclean.convert_text(open("dump.txt", encoding="utf-8").read())
>>> article = feedclean.process(open("dump.txt", "rb").read())
"""

from .article import Article, Image, InputError, Source
from .pipeline import convert_bytes, convert_text, process, process_all
from .render import render
from .rules import BUILTIN, RulesError, RuleSet

__version__ = "0.1.0"

__all__ = [
    "BUILTIN",
    "Article",
    "Image",
    "InputError",
    "RuleSet",
    "RulesError",
    "Source",
    "__version__",
    "convert_bytes",
    "convert_text",
    "process",
    "process_all",
    "render",
]
