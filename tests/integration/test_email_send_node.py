"""The Send Email node (n8n ``emailSend`` 1, 2, 2.1) against a local aiosmtpd server, through the engine.

The server runs in this process on a free port and records each envelope (and decodes its
attachments there); the credential comes from a small fake vault (the port is all the engine
knows). Attachments come from binary data in both stores: memory and the filesystem.
"""

from __future__ import annotations

import base64
import email
import os
import socket
import ssl
from collections.abc import Iterator, Mapping
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from relayflow.binary import BinaryData, FilesystemBinaryStore, MemoryBinaryStore
from relayflow.engine.ports import BinaryStore
from relayflow.errors import CredentialUnavailable
from relayflow.nodes.email_send import _node_error
from relayflow.testing import NodeRunFailed, make_engine, output_json, run_node
from tests.integration.http_request_support import self_signed

T = "n8n-nodes-base.emailSend"
REF = {"id": "smtp-1", "name": "Local SMTP"}
NODE_FIELDS = {"credentials": {"smtp": REF}}
SECRET = "s3cret-password"


class FakeVault:
    def __init__(self, fields: Mapping[str, Any]) -> None:
        self.fields = dict(fields)

    async def get(
        self, type_: str, ref: Mapping[str, Any], *, workflow_id: str | None = None
    ) -> dict[str, Any]:
        if type_ != "smtp" or ref.get("id") != REF["id"]:
            raise CredentialUnavailable(f"{type_} credential is not available")
        return dict(self.fields)


class Recorder:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        # per message: (file name, content type, decoded bytes) of each attachment, as received
        self.attachments: list[list[tuple[str, str, bytes]]] = []

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("nobody@"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        msg = email.message_from_bytes(envelope.original_content or b"")
        received = []
        for part in msg.walk():
            if part.get_filename():
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                received.append((str(part.get_filename()), part.get_content_type(), payload))
        self.attachments.append(received)
        return "250 OK"


def _authenticator(
    server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == b"alice" and data.password == SECRET.encode()
    return AuthResult(success=ok, handled=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server(auth: bool, tls: ssl.SSLContext | None = None) -> Iterator[tuple[Recorder, int]]:
    recorder, port = Recorder(), _free_port()
    kwargs: dict[str, Any] = {"ssl_context": tls} if tls else {}
    if auth:
        # plain-text AUTH on a local test socket; no TLS here
        kwargs |= {"authenticator": _authenticator, "auth_require_tls": False}
    controller = Controller(recorder, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    yield recorder, port
    controller.stop()


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, int]]:
    yield from _server(auth=False)


@pytest.fixture
def smtp_auth() -> Iterator[tuple[Recorder, int]]:
    yield from _server(auth=True)


@pytest.fixture
def smtps(tmp_path: Path) -> Iterator[tuple[Recorder, int]]:
    """Implicit TLS (SMTPS) with a certificate no client trusts."""
    yield from _server(auth=False, tls=self_signed(tmp_path))


async def send(
    port: int,
    parameters: Mapping[str, Any],
    items: Any = None,
    *,
    version: float = 2.1,
    binary: BinaryStore | None = None,
    **cred: Any,
) -> list[dict[str, Any]]:
    fields = {"host": "127.0.0.1", "port": port, "secure": False, "user": "", "password": "", **cred}
    services: dict[str, Any] = {"binary": binary} if binary is not None else {}
    engine = make_engine(credentials=FakeVault(fields), **services)
    out = await run_node(T, parameters, items, type_version=version, node_fields=NODE_FIELDS, engine=engine)
    return output_json(out)


def parsed(envelope: Envelope) -> Message:
    return email.message_from_bytes(envelope.original_content or b"")


def body(part: Message) -> str:
    """A non-multipart part's decoded content."""
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


BASE = {
    "fromEmail": "Bot <bot@example.com>",
    "toEmail": "Ann <ann@example.com>, bob@example.com",
    "subject": "Hi",
}


async def test_text_message_v1(smtp: tuple[Recorder, int]) -> None:
    rec, port = smtp
    out = await send(port, {**BASE, "text": "hello there"}, version=1)
    assert out[0]["accepted"] == ["ann@example.com", "bob@example.com"]
    assert out[0]["rejected"] == []
    assert out[0]["messageId"].startswith("<")
    [env] = rec.envelopes
    assert env.mail_from == "bot@example.com"
    assert env.rcpt_tos == ["ann@example.com", "bob@example.com"]
    msg = parsed(env)
    assert msg["Subject"] == "Hi" and msg["From"] == "Bot <bot@example.com>"
    assert msg.get_content_type() == "text/plain"
    assert "hello there" in body(msg)
    assert "relayflow" not in body(msg)


async def test_html_is_the_21_default(smtp: tuple[Recorder, int]) -> None:
    rec, port = smtp
    await send(port, {**BASE, "html": "<b>bold</b>", "text": "ignored"})
    msg = parsed(rec.envelopes[0])
    assert msg.get_content_type() == "text/html"
    assert "<b>bold</b>" in body(msg)


async def test_both_makes_alternative_parts(smtp: tuple[Recorder, int]) -> None:
    rec, port = smtp
    params = {
        **BASE,
        "emailFormat": "both",
        "text": "plain",
        "html": "<p>rich</p>",
        "options": {"appendAttribution": True},
    }
    await send(port, params)
    msg = parsed(rec.envelopes[0])
    assert msg.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): body(p) for p in msg.walk() if not p.is_multipart()}
    assert "plain" in parts["text/plain"] and "sent automatically with relayflow" in parts["text/plain"]
    assert "<p>rich</p>" in parts["text/html"]


async def test_expressions_cc_bcc_reply_to(smtp: tuple[Recorder, int]) -> None:
    rec, port = smtp
    params = {
        "fromEmail": "bot@example.com",
        "toEmail": "={{ $json.to }}",
        "subject": "=Order {{ $json.n }}",
        "emailFormat": "text",
        "text": "=Dear {{ $json.name }}",
        "options": {
            "ccEmail": "cc@example.com",
            "bccEmail": "hidden@example.com",
            "replyTo": "help@example.com",
        },
    }
    items = [{"to": "a@example.com", "n": 1, "name": "A"}, {"to": "b@example.com", "n": 2, "name": "B"}]
    out = await send(port, params, items)
    assert [o["accepted"] for o in out] == [
        ["a@example.com", "cc@example.com", "hidden@example.com"],
        ["b@example.com", "cc@example.com", "hidden@example.com"],
    ]
    first, second = (parsed(e) for e in rec.envelopes)
    assert first["To"] == "a@example.com" and second["Subject"] == "Order 2"
    assert first["Cc"] == "cc@example.com" and first["Reply-To"] == "help@example.com"
    assert first["Bcc"] is None and "hidden" not in (rec.envelopes[0].original_content or b"").decode()
    assert "hidden@example.com" in rec.envelopes[0].rcpt_tos
    assert "Dear B" in body(second)


async def test_attachment_from_inline_binary(smtp: tuple[Recorder, int]) -> None:
    rec, port = smtp
    data = base64.b64encode(b"a,b\n1,2\n").decode()
    item = {"json": {}, "binary": {"file": {"data": data, "mimeType": "text/csv", "fileName": "r.csv"}}}
    await send(
        port, {**BASE, "emailFormat": "text", "text": "see file", "options": {"attachments": "file"}}, [item]
    )
    msg = parsed(rec.envelopes[0])
    [att] = [p for p in msg.walk() if p.get_filename()]
    assert att.get_filename() == "r.csv" and att.get_content_type() == "text/csv"
    assert att.get_payload(decode=True) == b"a,b\n1,2\n"


@pytest.fixture(params=["memory", "filesystem"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BinaryStore:
    if request.param == "memory":
        return MemoryBinaryStore()
    return FilesystemBinaryStore(tmp_path / "binary")


async def test_big_stored_attachment_arrives_intact(smtp: tuple[Recorder, int], store: BinaryStore) -> None:
    rec, port = smtp
    # 5 MB of random bytes, not a multiple of 57 (one base64 line) nor of the 1 MiB read chunk
    data = os.urandom(5 * 1000 * 1000 + 7)
    entry = await BinaryData(store, "exec-1").put(data, file_name="report.pdf", mime_type="application/pdf")
    small = await BinaryData(store, "exec-1").put(b"x,y\n", file_name="s.csv", mime_type="text/csv")
    item = {"json": {}, "binary": {"data": entry, "extra": small}}
    params = {**BASE, "emailFormat": "both", "text": "t", "html": "<p>h</p>"}
    out = await send(port, {**params, "options": {"attachments": "data, extra"}}, [item], binary=store)
    assert out[0]["accepted"] == ["ann@example.com", "bob@example.com"]
    [received] = rec.attachments
    assert [(name, ctype) for name, ctype, _ in received] == [
        ("report.pdf", "application/pdf"),
        ("s.csv", "text/csv"),
    ]
    assert received[0][2] == data
    assert received[1][2] == b"x,y\n"
    msg = parsed(rec.envelopes[0])
    assert msg.get_content_type() == "multipart/mixed"
    kinds = [p.get_content_type() for p in msg.walk()]
    assert "multipart/alternative" in kinds and "text/plain" in kinds and "text/html" in kinds


async def test_v1_top_level_attachments_from_a_stored_entry(smtp: tuple[Recorder, int]) -> None:
    rec, port = smtp
    store = MemoryBinaryStore()
    # a mime type with parameters: the part is typed by its bare type
    entry = await BinaryData(store, "exec-1").put(
        b"hello", file_name="a.txt", mime_type="text/plain; charset=utf-8"
    )
    params = {**BASE, "text": "see file", "attachments": "data", "ccEmail": "cc@example.com"}
    out = await send(port, params, [{"json": {}, "binary": {"data": entry}}], version=1, binary=store)
    assert "cc@example.com" in out[0]["accepted"]
    assert rec.attachments == [[("a.txt", "text/plain", b"hello")]]


async def test_missing_binary_property_names_it(smtp: tuple[Recorder, int]) -> None:
    rec, port = smtp
    item = {"json": {}, "binary": {"file": {"data": "eA==", "mimeType": "text/plain"}}}
    with pytest.raises(NodeRunFailed) as failed:
        await send(port, {**BASE, "text": "x", "options": {"attachments": "file, other"}}, [item])
    assert "'other'" in failed.value.error["message"] and "file" in failed.value.error["message"]
    assert rec.envelopes == []


@pytest.mark.parametrize("key", ["exec-9/gone", "not-a-key"])
async def test_stored_data_that_is_gone_fails_clearly(
    smtp: tuple[Recorder, int], store: BinaryStore, key: str
) -> None:
    rec, port = smtp
    item = {"json": {}, "binary": {"file": {"id": f"{store.mode}:{key}", "mimeType": "text/csv"}}}
    with pytest.raises(NodeRunFailed) as failed:
        await send(port, {**BASE, "text": "x", "options": {"attachments": "file"}}, [item], binary=store)
    assert "binary property 'file'" in failed.value.error["message"]
    assert rec.envelopes == []


@pytest.mark.parametrize("field", ["subject", "toEmail", "fromEmail"])
async def test_header_injection_is_refused(smtp: tuple[Recorder, int], field: str) -> None:
    rec, port = smtp
    params = {**BASE, "text": "x", field: BASE[field] + "\r\nBcc: victim@example.com"}
    with pytest.raises(NodeRunFailed) as failed:
        await send(port, params)
    assert "line breaks" in failed.value.error["message"]
    assert failed.value.error["node"] == "Node"
    assert rec.envelopes == []


async def test_login(smtp_auth: tuple[Recorder, int]) -> None:
    rec, port = smtp_auth
    out = await send(port, {**BASE, "text": "x"}, user="alice", password=SECRET)
    assert out[0]["accepted"] and len(rec.envelopes) == 1


async def test_auth_failure_names_node_not_password(smtp_auth: tuple[Recorder, int]) -> None:
    rec, port = smtp_auth
    with pytest.raises(NodeRunFailed) as failed:
        await send(port, {**BASE, "text": "x"}, user="alice", password="wrong-" + SECRET)
    assert failed.value.error["node"] == "Node"
    assert "login failed" in failed.value.error["message"]
    assert SECRET not in str(failed.value.error)
    assert rec.envelopes == []


async def test_unreachable_server_is_retryable() -> None:
    port = _free_port()  # nothing listens there now
    with pytest.raises(NodeRunFailed) as failed:
        await send(port, {**BASE, "text": "x"})
    assert failed.value.error["node"] == "Node"
    assert "could not reach" in failed.value.error["message"]
    # the engine's error dict does not carry the flag: check the classification itself
    assert _node_error(ConnectionRefusedError("refused"), "Node", None).retryable is True


async def test_refused_recipient_is_reported(smtp: tuple[Recorder, int]) -> None:
    rec, port = smtp
    out = await send(port, {**BASE, "toEmail": "ann@example.com, nobody@example.com", "text": "x"})
    assert out[0]["accepted"] == ["ann@example.com"]
    assert out[0]["rejected"] == ["nobody@example.com"]
    assert rec.envelopes[0].rcpt_tos == ["ann@example.com"]


async def test_all_recipients_refused_is_a_node_error(smtp: tuple[Recorder, int]) -> None:
    _, port = smtp
    with pytest.raises(NodeRunFailed) as failed:
        await send(port, {**BASE, "toEmail": "nobody@example.com", "text": "x"})
    assert failed.value.error["node"] == "Node"
    assert "nobody@example.com" in failed.value.error["message"]


async def test_smtps_with_unauthorized_cert_allowed(smtps: tuple[Recorder, int]) -> None:
    rec, port = smtps
    params = {**BASE, "emailFormat": "text", "text": "over tls", "options": {"allowUnauthorizedCerts": True}}
    out = await send(port, params, secure=True)
    assert out[0]["accepted"] and "over tls" in body(parsed(rec.envelopes[0]))


async def test_smtps_untrusted_cert_is_refused(smtps: tuple[Recorder, int]) -> None:
    rec, port = smtps
    with pytest.raises(NodeRunFailed) as failed:
        await send(port, {**BASE, "text": "x"}, secure=True)
    assert "certificate is not trusted" in failed.value.error["message"]
    assert rec.envelopes == []
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed")
    assert _node_error(cause, "Node", None).retryable is False
