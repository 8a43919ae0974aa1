"""Parse RSS 2.0 (and 0.9x), RSS 1.0 (RDF) and Atom feeds into items shaped like n8n's (which
uses the npm package rss-parser): ``title``, ``link``, ``pubDate``, ``author``, ``creator``,
``content``, ``contentSnippet``, ``guid``, ``categories``, ``isoDate``, ``enclosure``... Keys a
feed does not give are left out, as rss-parser does.

Parsing uses expat directly. Entity declarations, a DOCTYPE with an internal subset, and external
entities are refused before they take effect (no entity expansion, no XXE); a bare DOCTYPE naming
an external DTD (RSS 0.91) is accepted and the DTD is never read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from xml.parsers import expat

from bs4 import BeautifulSoup

# what expat decodes itself; other declared encodings are decoded by Python first
_EXPAT_ENCODINGS = frozenset(
    {"utf-8", "utf8", "utf-16", "utf16", "iso-8859-1", "latin-1", "latin1", "us-ascii"}
)
_ENCODING_DECL = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._\-]+)["']""")
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")


class FeedError(ValueError):
    """Not a feed we can read (malformed XML, refused XML, or no RSS/Atom root)."""


@dataclass
class _El:
    name: str
    attrs: dict[str, str]
    children: list[_El] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    @property
    def local(self) -> str:
        return self.name.rsplit(":", 1)[-1]

    def value(self) -> str:
        return "".join(self.text)

    def first(self, *names: str) -> _El | None:
        """The first child named (as written, prefix included) any of ``names``."""
        for child in self.children:
            if child.name in names:
                return child
        return None

    def all(self, *names: str) -> list[_El]:
        return [c for c in self.children if c.name in names]

    def first_local(self, name: str) -> _El | None:
        for child in self.children:
            if child.local == name:
                return child
        return None


def _tree(data: bytes) -> _El:
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    root: list[_El] = []
    stack: list[_El] = []

    def refuse(*_: Any) -> None:
        raise FeedError("feeds with entity declarations are not accepted")

    def doctype(_name: str, _sysid: str | None, _pubid: str | None, internal_subset: int) -> None:
        if internal_subset:
            raise FeedError("feeds with a DOCTYPE internal subset are not accepted")

    def external(*_: Any) -> int:
        raise FeedError("feeds with external entities are not accepted")

    def start(name: str, attrs: dict[str, str]) -> None:
        el = _El(name, attrs)
        if stack:
            stack[-1].children.append(el)
        else:
            root.append(el)
        stack.append(el)

    def chars(text: str) -> None:
        if stack:
            stack[-1].text.append(text)

    def end(_name: str) -> None:
        stack.pop()

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = external
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        match = _ENCODING_DECL.match(data)
        declared = match.group(1).decode("ascii").lower() if match else "utf-8"
        if declared in _EXPAT_ENCODINGS:
            parser.Parse(data, True)
        else:
            try:
                text = data.decode(declared, errors="replace")
            except LookupError:
                raise FeedError(f"unknown encoding {declared!r}") from None
            parser.Parse(_XML_DECL.sub("", text, count=1).encode("utf-8"), True)
    except expat.ExpatError as exc:
        raise FeedError(f"the feed is not well-formed XML: {exc}") from None
    if not root:
        raise FeedError("the feed is empty")
    return root[0]


def iso_date(text: str | None) -> str | None:
    """An RFC 822 or ISO 8601 date as JavaScript's ``toISOString`` writes it, or None."""
    if not text or not text.strip():
        return None
    text = text.strip()
    at: datetime | None = None
    try:
        at = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        try:
            at = datetime.fromisoformat(text)
        except ValueError:
            return None
    if at is None:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def snippet(content: str) -> str:
    """rss-parser's ``contentSnippet``: the text of HTML content, trimmed."""
    if "<" not in content and "&" not in content:
        return content.strip()
    return str(BeautifulSoup(content, "html.parser").get_text()).strip()


def _text(el: _El | None) -> str | None:
    return el.value() if el is not None else None


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


def _rss_item(el: _El) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("title", "link", "pubDate", "author", "comments"):
        _put(out, key, _text(el.first(key)))
    creator = _text(el.first("dc:creator"))
    if creator is not None:
        out["creator"] = creator
        out["dc:creator"] = creator
    _put(out, "dc:date", _text(el.first("dc:date")))
    encoded = _text(el.first("content:encoded"))
    if encoded is not None:
        out["content:encoded"] = encoded
        out["content:encodedSnippet"] = snippet(encoded)
    description = _text(el.first("description"))
    if description is not None:
        out["content"] = description
        out["contentSnippet"] = snippet(description)
    enclosure = el.first("enclosure")
    if enclosure is not None:
        out["enclosure"] = dict(enclosure.attrs)
    guid = el.first("guid")
    if guid is not None:
        out["guid"] = guid.value()
    elif "rdf:about" in el.attrs:
        out["guid"] = el.attrs["rdf:about"]
    categories = [c.value() for c in el.all("category", "dc:subject")]
    if categories:
        out["categories"] = categories
    _put(out, "isoDate", iso_date(out.get("pubDate") or out.get("dc:date")))
    return out


def _atom_link(entry: _El) -> str | None:
    links = [c for c in entry.children if c.local == "link"]
    for link in links:
        if link.attrs.get("rel", "alternate") == "alternate" and "href" in link.attrs:
            return link.attrs["href"]
    return links[0].attrs.get("href") if links else None


def _atom_entry(el: _El) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put(out, "title", _text(el.first_local("title")))
    _put(out, "link", _atom_link(el))
    published = _text(el.first_local("published")) or _text(el.first_local("updated"))
    _put(out, "pubDate", published)
    author = el.first_local("author")
    if author is not None:
        _put(out, "author", _text(author.first_local("name")) or author.value().strip() or None)
    content = _text(el.first_local("content")) or _text(el.first_local("summary"))
    if content is not None:
        out["content"] = content
        out["contentSnippet"] = snippet(content)
    _put(out, "summary", _text(el.first_local("summary")))
    _put(out, "id", _text(el.first_local("id")))
    categories = [c.attrs.get("term", c.value()) for c in el.children if c.local == "category"]
    if categories:
        out["categories"] = categories
    _put(out, "isoDate", iso_date(published))
    return out


def parse_feed(data: bytes) -> list[dict[str, Any]]:
    """The items of an RSS or Atom document, in document order; ``FeedError`` when it is none."""
    root = _tree(data)
    if root.local == "feed":
        return [_atom_entry(e) for e in root.children if e.local == "entry"]
    if root.local == "rss":
        channel = root.first_local("channel")
        return [_rss_item(e) for e in channel.children if e.local == "item"] if channel else []
    if root.local == "RDF":
        return [_rss_item(e) for e in root.children if e.local == "item"]
    raise FeedError(f"not an RSS or Atom feed (the root element is <{root.name}>)")
