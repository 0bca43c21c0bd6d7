"""URL handling shared by the stages: safety checks, proxy unwrapping, canonical form.

Everything here works on single URL strings, never on HTML. The site knowledge
(which hosts are proxies, which parameters track) comes in from the rules.
"""

from __future__ import annotations

import html
import re
from urllib.parse import unquote, urljoin

# Schemes a link in the output may use; anything else (javascript:, vbscript:,
# data:, file: …) is active content or a local resource and is dropped.
LINK_SCHEMES = frozenset({"http", "https", "mailto", "ftp", "tel"})
IMAGE_SCHEMES = frozenset({"http", "https"})

# Browsers drop tabs and newlines anywhere in a URL ("java\tscript:" is
# "javascript:"); other controls have no business there either, and libxml2
# refuses them in attribute values.
_URL_INVISIBLES = dict.fromkeys([*range(0x20), 0x7F])
_URL_EDGE_CHARS = " "

_PROXY_UNWRAP_DEPTH = 4
# Hosts whose look-ups a table keeps at hand (a PatternTable's entries, a RuleSet's merged rules);
# past this many it starts again.
HOSTS_REMEMBERED = 4096
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_SPACES = re.compile(r"[\s\x00-\x1f\x7f]+")
_UNSAFE_IN_URL = re.compile(r"[\x00-\x20\"<>`\x7f]")
# Scheme, authority, path and query of an absolute URL (RFC 3986, appendix B), without urlsplit's overhead.
_ABSOLUTE_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)(?:\?([^#]*))?")
# Host and path of an absolute or scheme-relative URL, without urlsplit's overhead.
_HOST_PATH = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*:)?//(?:[^/?#@]*@)?([^/?#:]*)(?::\d*)?([^?#]*)(?:\?([^#]*))?")
# The same host alone: most look-ups stop at the host, and scanning a long path costs more than the rest.
_HOST = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*:)?//(?:[^/?#@]*@)?([^/?#:]*)")


def tidy_url(url: str) -> str:
    """Return the URL as a browser would read the attribute: no controls, no spaces at the edges."""
    if not url.isprintable():
        url = url.translate(_URL_INVISIBLES)
    return url.strip(_URL_EDGE_CHARS)


def percent_encode_unsafe(url: str, tidied: bool = False) -> str:
    """Percent-encode what may never stand raw in a URL (spaces, quotes, angle brackets).

    The result is the same address, and stays inert wherever a template
    pastes it, inside an attribute or not. A `tidied` URL is tidy_url's result
    unchanged, which holds no control character: only the rest is looked for.
    """
    if (
        (tidied or url.isprintable())
        and " " not in url
        and '"' not in url
        and "<" not in url
        and ">" not in url
        and "`" not in url
    ):
        return url  # the usual URL, told without a regular expression: controls are not printable
    return _UNSAFE_IN_URL.sub(lambda match: f"%{ord(match.group()):02X}", url)


def url_scheme(url: str) -> str | None:
    """The lower-cased scheme, or None for a relative URL."""
    if url.startswith("https:"):
        return "https"
    match = _SCHEME.match(url)
    return match.group(1).lower() if match else None


def is_allowed(url: str, schemes: frozenset[str]) -> bool:
    """True for a relative URL or one whose scheme is in `schemes`.

    A URL without a scheme is also read the way the most lenient renderer or
    browser might: entities and percent-escapes decoded (CommonMark decodes
    entities in link destinations, a template may paste a JSON value into an
    attribute) and every space or control dropped. So neither
    `javascript&colon;…` nor `java%20script:…` passes for a relative URL.
    """
    scheme = url_scheme(url)
    if scheme is not None:
        return scheme in schemes
    if "&" not in url and "%" not in url and " " not in url and url[:1].isascii():
        return True
    scheme = url_scheme(_SPACES.sub("", unquote(html.unescape(url))))
    return scheme is None or scheme in schemes


def absolutize(url: str, base: str | None) -> str:
    """Resolve `url` against the article URL; leave it alone when that is impossible."""
    if url.startswith("//"):
        return "https:" + url
    if base is None or url_scheme(url) is not None or url.startswith("#"):
        return url
    try:
        return urljoin(base, url)
    except ValueError:
        return url


def host_of(url: str) -> str:
    """The lower-cased host without a leading "www.", or "" when there is none."""
    return url_host(url).removeprefix("www.")


def url_host(url: str) -> str:
    """The lower-cased host of an absolute or scheme-relative URL, "www." kept; "" when there is none.

    A link's final URL is read for its host once, and each rule table (share links,
    footer hosts, trackers) then looks it up by that host; only a table with an entry
    for the host reads the path and query.
    """
    match = _HOST.match(url)
    return match.group(1).lower() if match else ""


# Second-level labels under which a country's sites register (news.bbc.co.uk is bbc.co.uk).
_SECOND_LEVELS = frozenset(("co", "com", "net", "org", "gov", "edu", "ac", "ne", "or", "go", "gob", "nic", "mil"))


def site_of(host: str) -> str:
    """The registered domain a host belongs to (www.news.example.co.uk → example.co.uk), told
    apart without a suffix list: the last two labels, three under a country's co/com/org."""
    labels = host.lower().rstrip(".").split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVELS:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def split_url(url: str) -> tuple[str, str, str, str] | None:
    """(host without "www.", path, query, fragment) of an absolute URL, or None."""
    match = _HOST_PATH.match(url)
    if match is None:
        return None
    fragment = url.partition("#")[2]
    return match.group(1).lower().removeprefix("www."), match.group(2), match.group(3) or "", fragment


def proxy_host_of(url: str) -> str:
    """The host of an image-proxy link, which may come without scheme or slashes (images.weserv.nl/?url=…)."""
    return host_of(_with_slashes(url))


def _with_slashes(url: str) -> str:
    return url if "//" in url[:12] else "//" + url


class Wrappers:
    """URLs that wrap another in a query parameter: image proxies (images.weserv.nl/?url=…)
    and redirectors (google.com/url?url=…, a site's /tools/r.html?url=…).

    Each entry is a host ("*" for any host, then a path is required), an optional path
    prefix, and the parameter holding the real URL; looked up by host, so a URL costs one
    dictionary probe per label of its host.
    """

    __slots__ = ("_any_host", "_by_host")

    def __init__(self, entries: list[tuple[str, str, str]]) -> None:
        self._by_host: dict[str, list[tuple[str, str]]] = {}
        self._any_host: list[tuple[str, str]] = []
        for host, path, param in entries:
            if host == "*":
                self._any_host.append((path, param))
            else:
                self._by_host.setdefault(host.lower().removeprefix("www."), []).append((path, param))

    def entry_for(self, url: str) -> tuple[str, str] | None:
        """The (host as written in the rules, parameter) that wraps `url`, or None."""
        match = _HOST_PATH.match(_with_slashes(url))
        if match is None:
            return None
        host, path, query = match.group(1).lower().removeprefix("www."), match.group(2), match.group(3) or ""
        for prefix, param in self._by_host.get(host, ()):
            if path.startswith(prefix) and _query_value(query, param):
                return host, param
        for prefix, param in self._any_host:
            if path.startswith(prefix) and _query_value(query, param):
                return "*", param
        return None

    def inner(self, url: str) -> str | None:
        """The URL that `url` wraps, or None when it wraps nothing (always, without a query)."""
        if "?" not in url:
            return None
        match = _HOST_PATH.match(_with_slashes(url))
        if match is None:
            return None
        host, path, query = match.groups()
        host = host.lower().removeprefix("www.")
        for entries in (self._by_host.get(host, ()), self._any_host):
            for prefix, param in entries:
                if path.startswith(prefix) and (value := _query_value(query or "", param).strip()):
                    return _wrapped_target(value, url)
        return None


def _wrapped_target(inner: str, wrapper: str) -> str | None:
    """The absolute URL a wrapper's parameter names: percent-encoded (sometimes twice), without a
    scheme (taken as https), with weserv's old "ssl:" prefix for https, or a path on the
    wrapper's own site (/china/2015…)."""
    while "%" in inner[:12] and url_scheme(inner) is None and not inner.startswith("/"):
        decoded = unquote(inner)
        if decoded == inner:
            break
        inner = decoded
    if inner.lower().startswith("ssl:"):
        inner = inner[4:].lstrip("/")
        return "https://" + inner if inner else None
    if inner.startswith("//"):
        return "https:" + inner
    if inner.startswith("/"):
        return absolutize(inner, wrapper) if wrapper.startswith(("http://", "https://")) else None
    if url_scheme(inner) is None:
        return "https://" + inner
    return inner


def unwrap_proxy_url(url: str, wrappers: Wrappers) -> str:
    """Return the original URL a proxy or redirector wraps, or `url` itself.

    Handles what feed proxies produce for images.weserv.nl and its kin: the
    real URL with or without a scheme, with weserv's old "ssl:" prefix for
    https, percent-encoded (sometimes twice), among sizing parameters, and
    proxies nested in proxies. A scheme-less original is taken as https.
    """
    if "?" not in url:
        return url  # the usual link: nothing wraps an address without a query
    for _ in range(_PROXY_UNWRAP_DEPTH):
        inner = wrappers.inner(url)
        if inner is None:
            return url
        url = inner
    return url


def _query_value(query: str, name: str) -> str:
    """The first non-empty value of `name` in a query string, decoded as `parse_qsl` would."""
    plain = "%" not in query and "+" not in query  # then nothing in it needs decoding
    for piece in query.split("&"):
        key, _, value = piece.partition("=")
        if value and _decoded(key, plain) == name:
            return _decoded(value, plain)
    return ""


def _decoded(text: str, plain: bool) -> str:
    """A query string's name or value decoded as `parse_qsl` would (as it is when `plain`)."""
    return text if plain else unquote(text.replace("+", " "))


class QueryFilter:
    """Query parameters that only track where a reader came from (utm_source, ref=rss …).

    An entry is a name ("fbclid"), a family ("utm_*"), or a name with the value that
    makes it tracking ("ref=rss", "source=rss*"), for parameters that carry meaning
    on other links. Names and values compare case-insensitively.
    """

    __slots__ = ("_names", "_prefixes", "_valued", "_valued_names")

    def __init__(self, entries: list[str] | tuple[str, ...]) -> None:
        names, prefixes, valued = set(), [], []
        for entry in entries:
            name, equals, value = entry.lower().partition("=")
            if equals:
                valued.append((name, value))
            elif name.endswith("*"):
                prefixes.append(name[:-1])
            else:
                names.add(name)
        self._names = frozenset(names)
        self._prefixes = tuple(prefixes)
        self._valued = tuple(valued)
        self._valued_names = frozenset(name for name, _ in valued)

    def __bool__(self) -> bool:
        return bool(self._names or self._prefixes or self._valued)

    def is_tracking(self, piece: str) -> bool:
        """Whether one `name=value` piece of a query string tracks."""
        name, _, value = piece.partition("=")
        name = (unquote(name) if "%" in name else name).lower()
        if name in self._names or name.startswith(self._prefixes):
            return True
        if name in self._valued_names:
            value = (unquote(value.replace("+", " ")) if "%" in value or "+" in value else value).lower()
            for tracked, wanted in self._valued:
                if name == tracked and (value.startswith(wanted[:-1]) if wanted.endswith("*") else value == wanted):
                    return True
        return False


def drop_tracking(url: str, tracking: QueryFilter) -> str:
    """`url` without its tracking parameters; the rest (other parameters, fragment) byte for byte."""
    query_start = url.find("?")
    if query_start == -1 or not tracking:
        return url
    fragment_start = url.find("#", query_start)
    end = len(url) if fragment_start == -1 else fragment_start
    pieces = url[query_start + 1 : end].split("&")
    kept = [piece for piece in pieces if piece and not tracking.is_tracking(piece)]
    if len(kept) == len(pieces):
        return url
    return url[:query_start] + ("?" + "&".join(kept) if kept else "") + url[end:]


def canonical_url(url: str, tracking: QueryFilter) -> str:
    """The article URL without tracking parameters or fragment, other parameters untouched.

    The query is filtered piece by piece rather than re-encoded, so whatever
    encoding the publisher used for the rest survives byte for byte.
    """
    match = _ABSOLUTE_URL.match(url)
    if match is None:
        return url
    scheme, netloc, path, query = match.group(1).lower(), match.group(2), match.group(3), match.group(4) or ""
    if ("[" in netloc) != ("]" in netloc):
        return url
    kept = [piece for piece in query.split("&") if piece and not tracking.is_tracking(piece)]
    if "@" not in netloc:
        netloc = netloc.lower()
    if netloc.endswith(":443") and scheme == "https":
        netloc = netloc[:-4]
    elif netloc.endswith(":80") and scheme == "http":
        netloc = netloc[:-3]
    canonical = f"{scheme}://{netloc}{path or '/'}"
    if kept:
        canonical += "?" + "&".join(kept)
    return percent_encode_unsafe(canonical)


class PatternTable:
    """URL patterns compiled for quick look-up by host.

    A pattern is "host/path-prefix" (subdomains of host included), optionally
    ending in "?name" to require a query parameter, or "scheme:rest" for a
    non-web scheme, matched as a prefix of the whole URL.
    """

    __slots__ = ("_by_host", "_for_host", "_scheme_prefixes")

    def __init__(self, patterns: list[str] | tuple[str, ...]) -> None:
        self._by_host: dict[str, list[tuple[str, str, str]]] = {}
        self._for_host: dict[str, list[tuple[str, str, str]]] = {}
        self._scheme_prefixes: list[tuple[str, str]] = []
        for pattern in patterns:
            self._add(pattern)

    def _add(self, pattern: str) -> None:
        scheme = url_scheme(pattern)
        if scheme is not None and scheme not in ("http", "https"):
            self._scheme_prefixes.append((pattern.lower(), pattern))
            return
        body = pattern.split("://", 1)[-1]
        body, _, param = body.partition("?")
        host, slash, path = body.partition("/")
        host = host.lower().removeprefix("www.")
        self._by_host.setdefault(host, []).append(("/" + path if slash else "", param, pattern))

    def match(self, url: str, host: str | None = None) -> str | None:
        """The first pattern `url` matches, or None; `host` is its url_host, when known."""
        if not url.startswith(("https://", "http://", "//")):
            lowered = url.lower()
            for prefix, pattern in self._scheme_prefixes:
                if lowered.startswith(prefix):
                    return pattern
            if url_scheme(url) not in ("http", "https"):
                return None
        if host is None:
            host = url_host(url)
        entries = self._for_host.get(host)
        if entries is None:
            entries = self._remember(host)
        if not entries:
            return None
        path, query = _HOST_PATH.match(url).group(2, 3)
        for prefix, param, pattern in entries:
            if path.startswith(prefix) and (not param or _has_param(query or "", param)):
                return pattern
        return None

    def _remember(self, host: str) -> list[tuple[str, str, str]]:
        """The entries for `host` and for each domain above it, nearest first: worked out once
        per host, since a document's links (and a feed's items) keep to a few hosts."""
        entries = []
        label = host
        while label:
            entries.extend(self._by_host.get(label, ()))
            label = label.partition(".")[2]
        if len(self._for_host) >= HOSTS_REMEMBERED:
            self._for_host.clear()
        self._for_host[host] = entries
        return entries


def _has_param(query: str, name: str) -> bool:
    """Whether the query string holds `name`, with a value or without, decoded as `parse_qsl` would."""
    plain = "%" not in query and "+" not in query
    return any(_decoded(piece.partition("=")[0], plain) == name for piece in query.split("&"))
