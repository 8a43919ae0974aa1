"""Markdown: convert Markdown to HTML or HTML to Markdown (n8n ``markdown`` v1).

n8n uses showdown and node-html-markdown; we use markdown-it-py (CommonMark) and markdownify.
The output is equivalent HTML/Markdown, not byte-identical: for example headings get no ``id``
attributes, and markdownify uses one symbol for both emphasis and strong emphasis.
"""

from __future__ import annotations

from typing import Any, Literal

from bs4 import BeautifulSoup
from markdown_it import MarkdownIt
from markdownify import ATX, SETEXT, markdownify
from pydantic import BaseModel, ConfigDict

from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput
from relayflow.nodes.itemwise import write_each
from relayflow.nodes.spec import N8nAlias, NodeSpec, renamed_options


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["markdownToHtml", "htmlToMarkdown"] = "htmlToMarkdown"
    markdown: Any = ""
    html: Any = ""
    # n8n calls it destinationKey; dot paths write nested fields
    data_property_name: str = "data"
    # markdownToHtml
    tables: bool = True
    strikethrough: bool = True
    simple_line_breaks: bool = False
    open_links_in_new_window: bool = False
    complete_html_document: bool = False
    # htmlToMarkdown
    bullet_marker: Literal["*", "-", "+"] = "*"
    strong_delimiter: Literal["**", "__"] = "**"
    heading_style: Literal["atx", "setext"] = "atx"
    # comma-separated tag names dropped with their content
    ignore: str = ""


def _text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


def markdown_to_html(source: str, p: Params) -> str:
    md = MarkdownIt("commonmark", {"breaks": p.simple_line_breaks})
    md.enable([rule for rule, on in (("table", p.tables), ("strikethrough", p.strikethrough)) if on])
    if p.open_links_in_new_window:
        md.add_render_rule("link_open", _link_open_new_window)
    html = str(md.render(source))
    if p.complete_html_document:
        html = f'<!DOCTYPE HTML>\n<html>\n<head>\n<meta charset="utf-8">\n</head>\n<body>\n{html}</body>\n</html>\n'
    return html


def _link_open_new_window(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    tokens[idx].attrSet("rel", "noopener noreferrer")
    tokens[idx].attrSet("target", "_blank")
    return str(self.renderToken(tokens, idx, options, env))


def html_to_markdown(source: str, p: Params) -> str:
    ignored = [tag.strip() for tag in p.ignore.split(",") if tag.strip()]
    if ignored:
        soup = BeautifulSoup(source, "html.parser")
        for tag in soup.find_all(ignored):
            tag.decompose()
        source = str(soup)
    markdown = markdownify(
        source,
        bullets=p.bullet_marker,
        strong_em_symbol=p.strong_delimiter[0],
        heading_style=ATX if p.heading_style == "atx" else SETEXT,
    )
    return str(markdown).strip()


def compute(it: Item, p: Params) -> str:
    if p.mode == "markdownToHtml":
        return markdown_to_html(_text(p.markdown), p)
    return html_to_markdown(_text(p.html), p)


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    return await write_each(ctx, items, params, compute)


_OPTION_KEYS = {
    "tables": "tables",
    "strikethrough": "strikethrough",
    "simpleLineBreaks": "simple_line_breaks",
    "openLinksInNewWindow": "open_links_in_new_window",
    "completeHTMLDocument": "complete_html_document",
    "bulletMarker": "bullet_marker",
    "strongDelimiter": "strong_delimiter",
    "headingStyle": "heading_style",
    "ignore": "ignore",
}


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "mode": p.get("mode", "htmlToMarkdown"),
        "markdown": p.get("markdown", ""),
        "html": p.get("html", ""),
        "data_property_name": p.get("destinationKey", "data"),
    }
    # showdown/node-html-markdown options we have no equivalent for are dropped
    out.update(renamed_options(p.get("options"), _OPTION_KEYS))
    return out


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.markdown",
        version=1,
        title="Markdown",
        group="transform",
        description="Convert Markdown to HTML or HTML to Markdown.",
        params=Params,
        execute=execute,
        aliases=(N8nAlias("n8n-nodes-base.markdown", (1,), translate=from_n8n),),
    ),
)
