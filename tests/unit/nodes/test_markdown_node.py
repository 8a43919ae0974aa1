"""Markdown (n8n markdown v1): Markdown to HTML and back."""

from __future__ import annotations

from typing import Any

from relayflow.testing import output_json, run_node

T = "n8n-nodes-base.markdown"


async def md(params: dict[str, Any], items: list[Any] | None = None) -> list[dict[str, Any]]:
    return output_json(await run_node(T, {"options": {}, **params}, items or [{"keep": 1}]))


async def test_markdown_to_html_keeps_the_item_and_writes_destination_key() -> None:
    out = await md(
        {"mode": "markdownToHtml", "markdown": "# Title\n\nSome **bold** text", "destinationKey": "html"}
    )
    assert out == [{"keep": 1, "html": "<h1>Title</h1>\n<p>Some <strong>bold</strong> text</p>\n"}]


async def test_markdown_from_an_expression_per_item_into_a_nested_key() -> None:
    items = [{"text": "*a*"}, {"text": "`b`"}]
    out = await md(
        {"mode": "markdownToHtml", "markdown": "={{ $json.text }}", "destinationKey": "out.html"}, items
    )
    assert [o["out"]["html"] for o in out] == ["<p><em>a</em></p>\n", "<p><code>b</code></p>\n"]
    assert out[0]["text"] == "*a*"


async def test_tables_strikethrough_and_line_breaks_options() -> None:
    source = "|a|b|\n|-|-|\n|1|2|\n\n~~old~~\nnext"
    html = (await md({"mode": "markdownToHtml", "markdown": source}))[0]["data"]
    assert "<table>" in html and "<td>1</td>" in html and "<s>old</s>" in html and "<br" not in html
    off = {"tables": False, "strikethrough": False, "simpleLineBreaks": True}
    html = (await md({"mode": "markdownToHtml", "markdown": source, "options": off}))[0]["data"]
    assert "<table>" not in html and "~~old~~<br />" in html


async def test_links_in_new_window_and_complete_document() -> None:
    options = {"openLinksInNewWindow": True, "completeHTMLDocument": True}
    html = (await md({"mode": "markdownToHtml", "markdown": "[x](https://e.org)", "options": options}))[0][
        "data"
    ]
    assert '<a href="https://e.org" rel="noopener noreferrer" target="_blank">x</a>' in html
    assert html.startswith("<!DOCTYPE HTML>") and "<body>" in html


async def test_html_to_markdown_is_the_default_mode() -> None:
    html = "<h2>Hi</h2><p>a <b>b</b> <a href='https://e.org'>c</a></p><ul><li>x</li><li>y</li></ul>"
    out = await md({"html": html})
    assert out == [{"keep": 1, "data": "## Hi\n\na **b** [c](https://e.org)\n\n* x\n* y"}]


async def test_html_to_markdown_options_and_ignored_tags() -> None:
    html = "<h1>T</h1><nav>menu</nav><ul><li><strong>x</strong></li></ul><script>bad()</script>"
    options = {
        "bulletMarker": "-",
        "strongDelimiter": "__",
        "headingStyle": "setext",
        "ignore": "nav, script",
    }
    out = (await md({"mode": "htmlToMarkdown", "html": html, "options": options}))[0]["data"]
    assert out == "T\n=\n\n- __x__"


async def test_round_trip_markdown_html_markdown() -> None:
    source = "# Notes\n\nSome **bold** and [link](https://e.org).\n\n* one\n* two"
    html = (await md({"mode": "markdownToHtml", "markdown": source}))[0]["data"]
    back = (await md({"mode": "htmlToMarkdown", "html": html}))[0]["data"]
    assert back == source


async def test_non_string_input_is_converted() -> None:
    assert (await md({"mode": "markdownToHtml", "markdown": 42}))[0]["data"] == "<p>42</p>\n"
    assert (await md({"mode": "htmlToMarkdown", "html": None}))[0]["data"] == ""
