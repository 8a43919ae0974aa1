"""The HTML node (n8n ``html`` v1-1.2) and the legacy HTML Extract node (``htmlExtract`` v1)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from relayflow.testing import NodeRunFailed, output_json, run_node

PAGE = """
<html><body>
  <h1 class="title main">  Hello
     world  </h1>
  <ul>
    <li><a href="/a" data-id="1">First</a></li>
    <li><a href="/b" data-id="2">Second <b>bold</b></a></li>
  </ul>
  <div id="post"><p>Body <span class="ad">AD</span> text</p></div>
  <form><input name="q" value="search me"><textarea>notes</textarea>
    <select><option value="x">X</option><option value="y" selected>Y</option></select></form>
</body></html>
"""


def extraction(*values: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"operation": "extractHtmlContent", "extractionValues": {"values": list(values)}, **extra}


async def extract(params: dict[str, Any], items: Any = None, version: float = 1.2) -> list[dict[str, Any]]:
    out = await run_node("n8n-nodes-base.html", params, items or [{"data": PAGE}], type_version=version)
    return output_json(out)


async def test_extract_text_html_attribute_and_value() -> None:
    (json,) = await extract(
        extraction(
            {"key": "title", "cssSelector": "h1"},
            {"key": "links", "cssSelector": "li a"},
            {"key": "linkHtml", "cssSelector": "li a", "returnValue": "html"},
            {"key": "href", "cssSelector": "li a", "returnValue": "attribute", "attribute": "href"},
            {
                "key": "ids",
                "cssSelector": "a",
                "returnValue": "attribute",
                "attribute": "data-id",
                "returnArray": True,
            },
            {"key": "cls", "cssSelector": "h1", "returnValue": "attribute", "attribute": "class"},
            {"key": "q", "cssSelector": "input[name=q]", "returnValue": "value"},
            {"key": "notes", "cssSelector": "textarea", "returnValue": "value"},
            {"key": "choice", "cssSelector": "select", "returnValue": "value"},
            {"key": "texts", "cssSelector": "li", "returnArray": True},
            {"key": "none", "cssSelector": "table"},
            {"key": "noneHtml", "cssSelector": "table", "returnValue": "html"},
            {"key": "noneArray", "cssSelector": "table", "returnArray": True},
        )
    )
    assert json == {
        "title": "Hello world",  # cleanUpText is on by default in v1.2
        "links": "FirstSecond bold",  # cheerio: the text of every match
        "linkHtml": "First",  # the first match's inner HTML
        "href": "/a",
        "ids": ["1", "2"],
        "cls": "title main",
        "q": "search me",
        "notes": "notes",
        "choice": "y",
        "texts": ["First", "Second bold"],
        "none": "",
        "noneHtml": None,
        "noneArray": [],
    }


async def test_trim_and_clean_up_options_and_versions() -> None:
    title = {"key": "title", "cssSelector": "h1"}
    assert (await extract(extraction(title), version=1.1))[0]["title"] == "Hello\n     world"
    raw = await extract(extraction(title, options={"trimValues": False, "cleanUpText": False}))
    assert raw[0]["title"] == "  Hello\n     world  "
    assert (await extract(extraction(title, options={"cleanUpText": True}), version=1))[0]["title"] == (
        "Hello world"
    )


async def test_skip_selectors() -> None:
    value = {"key": "body", "cssSelector": "#post", "skipSelectors": ".ad, script"}
    assert (await extract(extraction(value)))[0]["body"] == "Body text"


async def test_nested_source_property_and_each_item() -> None:
    items = [{"page": {"html": "<p>one</p>"}}, {"page": {"html": "<p>two</p>"}}]
    params = extraction({"key": "p", "cssSelector": "p"}, dataPropertyName="page.html")
    out = await run_node("n8n-nodes-base.html", params, items, type_version=1.2)
    assert output_json(out) == [{"p": "one"}, {"p": "two"}]
    assert [it["pairedItem"] for it in out[0]] == [{"item": 0}, {"item": 1}]


async def test_binary_source() -> None:
    entry = {"data": base64.b64encode(PAGE.encode()).decode(), "mimeType": "text/html", "fileName": "p.html"}
    items = [{"json": {}, "binary": {"page": entry}}]
    params = extraction({"key": "title", "cssSelector": "h1"}, sourceData="binary", dataPropertyName="page")
    assert await extract(params, items) == [{"title": "Hello world"}]


async def test_legacy_html_extract_node() -> None:
    params = {
        "extractionValues": {
            "values": [
                {
                    "key": "sub",
                    "cssSelector": "a[data-id]",
                    "returnValue": "attribute",
                    "attribute": "data-id",
                }
            ]
        },
        "options": {},
    }
    out = await run_node("n8n-nodes-base.htmlExtract", params, [{"data": PAGE}])
    assert output_json(out) == [{"sub": "1"}]


async def test_bad_selector_and_missing_source_are_clear() -> None:
    with pytest.raises(NodeRunFailed) as info:
        await extract(extraction({"key": "x", "cssSelector": "a[["}))
    assert (
        info.value.error["code"] == "parameter_invalid"
        and "invalid CSS selector" in info.value.error["message"]
    )
    with pytest.raises(NodeRunFailed) as info:
        await extract(extraction({"key": "x", "cssSelector": "a"}), [{"other": 1}])
    assert "no field 'data'" in info.value.error["message"]
    with pytest.raises(NodeRunFailed) as info:
        await extract(extraction({"key": "x", "cssSelector": "a", "returnValue": "attribute"}))
    assert "attribute to return is required" in info.value.error["message"]


async def test_generate_html_template_evaluates_expressions() -> None:
    params = {"operation": "generateHtmlTemplate", "html": "<h1>{{ $json.name }}</h1>"}
    out = await run_node("n8n-nodes-base.html", {**params, "html": "=" + params["html"]}, [{"name": "Ada"}])
    assert output_json(out) == [{"html": "<h1>Ada</h1>"}]


async def test_convert_to_html_table() -> None:
    items = [{"name": "a<b", "n": 1, "tags": ["x"]}, {"name": "c", "ok": True}]
    out = await run_node(
        "n8n-nodes-base.html",
        {
            "operation": "convertToHtmlTable",
            "options": {
                "capitalize": True,
                "caption": "T",
                "customStyling": True,
                "tableAttributes": 'class="t"',
            },
        },
        items,
        type_version=1.2,
    )
    (item,) = out[0]
    assert item["pairedItem"] == [{"item": 0}, {"item": 1}]
    assert item["json"]["table"] == (
        '<table class="t"><caption>T</caption><thead><tr><th>Name</th><th>N</th><th>Tags</th><th>Ok</th>'
        "</tr></thead><tbody><tr><td>a&lt;b</td><td>1</td><td>[&quot;x&quot;]</td><td></td></tr>"
        "<tr><td>c</td><td></td><td></td><td>true</td></tr></tbody></table>"
    )
