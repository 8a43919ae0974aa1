"""XML (n8n xml v1): xml2js's JSON shape, the builder's XML, and refusal of DTDs."""

from __future__ import annotations

from typing import Any

import pytest

from relayflow.testing import NodeRunFailed, output_json, run_node

T = "n8n-nodes-base.xml"
DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'


async def to_json(xml: str, options: dict[str, Any] | None = None, **params: Any) -> dict[str, Any]:
    parameters = {"mode": "xmlToJson", "options": options or {}, **params}
    key = params.get("dataPropertyName", "data")
    return output_json(await run_node(T, parameters, [{key: xml}]))[0]


async def to_xml(json: dict[str, Any], options: dict[str, Any] | None = None) -> str:
    out = output_json(await run_node(T, {"mode": "jsonToxml", "options": options or {}}, [json]))
    assert list(out[0]) == ["data"]
    xml: str = out[0]["data"]
    return xml


async def test_attributes_merge_and_text_goes_to_charkey() -> None:
    xml = '<order id="7"><customer vip="yes">Ann</customer><note>fast</note></order>'
    assert await to_json(xml) == {
        "order": {"id": "7", "customer": {"vip": "yes", "_": "Ann"}, "note": "fast"}
    }


async def test_repeated_elements_become_lists_only_when_repeated() -> None:
    xml = "<r><item>a</item><item>b</item><one>c</one></r>"
    assert await to_json(xml) == {"r": {"item": ["a", "b"], "one": "c"}}


async def test_explicit_array_and_attrs_under_attrkey() -> None:
    xml = '<r k="v"><item>a</item></r>'
    out = await to_json(xml, {"explicitArray": True, "mergeAttrs": False, "attrkey": "@"})
    assert out == {"r": {"@": {"k": "v"}, "item": ["a"]}}


async def test_explicit_root_off_ignore_attrs_and_normalize_tags() -> None:
    xml = '<Root a="1"><Name>x</Name></Root>'
    out = await to_json(xml, {"explicitRoot": False, "ignoreAttrs": True, "normalizeTags": True})
    assert out == {"name": "x"}


async def test_trim_normalize_and_empty_elements() -> None:
    xml = "<r><a>  spaced   out  </a><b/><c></c></r>"
    assert await to_json(xml, {"normalize": True}) == {"r": {"a": "spaced out", "b": "", "c": ""}}
    assert (await to_json(xml, {"trim": True}))["r"]["a"] == "spaced   out"
    assert (await to_json(xml))["r"]["a"] == "  spaced   out  "


async def test_namespace_prefixes_are_kept_as_written() -> None:
    xml = '<s:Envelope xmlns:s="urn:x"><s:Body>1</s:Body></s:Envelope>'
    assert await to_json(xml) == {"s:Envelope": {"xmlns:s": "urn:x", "s:Body": "1"}}


async def test_custom_property_name_and_output_replaces_json() -> None:
    out = await to_json("<a>1</a>", dataPropertyName="body")
    assert out == {"a": "1"}


async def test_json_to_xml_single_key_names_the_root() -> None:
    xml = await to_xml({"order": {"id": 7, "ok": True, "tags": ["a", "b"], "none": None}})
    assert xml == "\n".join(
        [
            DECLARATION,
            "<order>",
            "  <id>7</id>",
            "  <ok>true</ok>",
            "  <tags>a</tags>",
            "  <tags>b</tags>",
            "  <none></none>",
            "</order>",
        ]
    )


async def test_json_to_xml_root_name_headless_attributes_and_escaping() -> None:
    xml = await to_xml(
        {"a": {"$": {"x": 'q"1'}, "_": "1 < 2"}, "b": {}}, {"rootName": "doc", "headless": True}
    )
    assert xml == '<doc>\n  <a x="q&quot;1">1 &lt; 2</a>\n  <b/>\n</doc>'


async def test_json_to_xml_cdata() -> None:
    xml = await to_xml({"a": "x & y", "b": "plain"}, {"cdata": True, "headless": True})
    assert xml == "<root>\n  <a><![CDATA[x & y]]></a>\n  <b>plain</b>\n</root>"


async def test_round_trip() -> None:
    original = {"shop": {"name": "Corner", "item": [{"sku": "1", "_": "Tea"}, {"sku": "2", "_": "Jam"}]}}
    xml = await to_xml(
        {
            "shop": {
                "name": "Corner",
                "item": [{"$": {"sku": "1"}, "_": "Tea"}, {"$": {"sku": "2"}, "_": "Jam"}],
            }
        }
    )
    assert await to_json(xml) == original


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<lolz>&lol3;</lolz>"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<foo>&xxe;</foo>"""
EXTERNAL_DTD = '<?xml version="1.0"?><!DOCTYPE foo SYSTEM "http://127.0.0.1:9/x.dtd"><foo/>'


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, XXE, EXTERNAL_DTD])
async def test_dtds_and_entities_are_refused(payload: str) -> None:
    with pytest.raises(NodeRunFailed, match="DOCTYPE") as info:
        await to_json(payload)
    assert info.value.error["node"] == "Node"  # run_node's name for the node under test
    assert info.value.error["code"] == "node_error"


async def test_bad_xml_fails_naming_the_node() -> None:
    with pytest.raises(NodeRunFailed, match="invalid XML") as info:
        await to_json("<a><b></a>")
    assert info.value.error["node"] == "Node"
    assert info.value.error["itemIndex"] == 0


async def test_missing_property_fails_and_continue_regular_output_keeps_going() -> None:
    with pytest.raises(NodeRunFailed, match="no property 'data'"):
        await run_node(T, {"mode": "xmlToJson"}, [{"other": 1}])
    outputs = await run_node(
        T,
        {"mode": "xmlToJson"},
        [{"data": "<a>1</a>"}, {"data": "<a>"}],
        node_fields={"onError": "continueRegularOutput"},
    )
    out = output_json(outputs)
    assert out[0] == {"a": "1"}
    assert "invalid XML" in str(out[1]["error"])


async def test_json_to_xml_refuses_characters_xml_cannot_carry() -> None:
    with pytest.raises(NodeRunFailed, match="U\\+0001 cannot be written"):
        await to_xml({"a": "bell\x01"})


async def test_large_document_is_parsed() -> None:
    xml = "<r>" + "".join(f"<i n='{n}'>{n}</i>" for n in range(5000)) + "</r>"
    assert len(xml) > 64 * 1024  # large enough to be parsed off the event loop
    items = (await to_json(xml))["r"]["i"]
    assert len(items) == 5000 and items[4999] == {"n": "4999", "_": "4999"}
