"""Send Email: one message per input item through an ``smtp`` credential (n8n ``emailSend`` 1, 2, 2.1).

The node opens one SMTP session for its run and sends every item's message over it. ``secure``
means implicit TLS (SMTPS); otherwise the session is upgraded with STARTTLS when the server
offers it. ``allow_unauthorized_certs`` turns certificate verification off for either.

Attachments come from the item's ``binary`` property names listed in ``attachments`` (a comma
list; top-level in v1, under ``options`` in v2 and 2.1), read through ``ctx.binary``: stored
entries and n8n's inline base64 ones alike, named and typed by the entry's ``fileName`` and
``mimeType``. A missing property is a node error naming it, not a silently lighter message.
The MIME encoder needs the whole message, so each attachment is read once, streamed chunk by
chunk straight into its base64 text (the raw bytes are never held whole next to the encoding).

The attribution line n8n can append is off by default here (relayflow does not advertise itself
in other people's mail); ``append_attribution`` adds "This email was sent automatically with
relayflow".
"""

from __future__ import annotations

import base64
import re
import ssl
from collections.abc import AsyncIterator, Mapping
from email.message import EmailMessage
from email.utils import getaddresses, make_msgid
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel, ConfigDict

from relayflow.engine.binary import DEFAULT_MIME
from relayflow.engine.context import NodeContext
from relayflow.engine.items import Item, Items, NodeOutput
from relayflow.errors import InputInvalid, NodeError, NotFound
from relayflow.nodes.spec import CredentialSlot, N8nAlias, NodeSpec

if TYPE_CHECKING:  # the driver is loaded when the node runs, not when the registry is built
    import aiosmtplib

TIMEOUT_S = 30.0
ATTRIBUTION = "This email was sent automatically with relayflow"


class Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    from_email: str = ""
    # comma lists; "Name <addr>" entries are allowed
    to_email: str = ""
    cc_email: str = ""
    bcc_email: str = ""
    reply_to: str = ""
    subject: str = ""
    email_format: Literal["text", "html", "both"] = "both"
    text: str = ""
    html: str = ""
    # comma list of binary property names
    attachments: str = ""
    allow_unauthorized_certs: bool = False
    append_attribution: bool = False


def _no_newlines(value: str, what: str) -> str:
    # a CR or LF would let a value start a header of its own (header injection)
    if "\r" in value or "\n" in value:
        raise NodeError(f"{what} must not contain line breaks", retryable=False)
    return value


def _addresses(value: str, what: str) -> list[str]:
    """The bare addresses of a comma list, refusing line breaks."""
    _no_newlines(value, what)
    return [addr for _, addr in getaddresses([value]) if addr]


# base64 lines of 76 characters: 57 bytes each
_LINE_BYTES = 57
_MIME_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*")


async def _base64_text(chunks: AsyncIterator[bytes]) -> str:
    """The chunks as MIME base64 text (76-character lines), encoded as they arrive."""
    lines: list[str] = []
    rest = b""
    async for chunk in chunks:
        data = rest + chunk if rest else chunk
        cut = len(data) - len(data) % _LINE_BYTES
        if cut:
            lines.append(base64.encodebytes(data[:cut]).decode("ascii"))
        rest = data[cut:]
    if rest:
        lines.append(base64.encodebytes(rest).decode("ascii"))
    return "".join(lines)


async def _attach(ctx: NodeContext, msg: EmailMessage, item: Item, names: str) -> None:
    for name in (n.strip() for n in names.split(",")):
        if not name:
            continue
        entry = ctx.binary.entry(item, name)
        mime = str(entry.get("mimeType") or "").split(";", 1)[0].strip()
        if not _MIME_TYPE.fullmatch(mime):
            mime = DEFAULT_MIME
        filename = _no_newlines(str(entry.get("fileName") or name), "attachment file name")
        try:
            encoded = await _base64_text(ctx.binary.stream(entry))
        except (NotFound, InputInvalid) as exc:  # the bytes are gone (or the reference is bad)
            raise NodeError(f"binary property {name!r}: {exc.message}", retryable=False) from exc
        part = EmailMessage(policy=msg.policy)
        try:
            part["Content-Type"] = mime
            part["Content-Transfer-Encoding"] = "base64"
            part.add_header("Content-Disposition", "attachment", filename=filename)
        except (ValueError, TypeError) as exc:
            raise NodeError(f"binary property {name!r} cannot be attached: {exc}", retryable=False) from exc
        part.set_payload(encoded)
        if msg.get_content_type() != "multipart/mixed":
            msg.make_mixed()
        msg.attach(part)


def _message(p: Params, item: Item, domain: str) -> tuple[EmailMessage, list[str]]:
    """The message for one item and its envelope recipients (To, Cc and Bcc)."""
    try:
        return _build(p, item, domain)
    except (ValueError, TypeError) as exc:
        # the email package refuses a header it cannot represent: bad data, not a crash
        raise NodeError(f"the message cannot be built: {exc}", retryable=False) from exc


def _build(p: Params, item: Item, domain: str) -> tuple[EmailMessage, list[str]]:
    msg = EmailMessage()
    msg["From"] = _no_newlines(p.from_email, "fromEmail")
    msg["To"] = _no_newlines(p.to_email, "toEmail")
    if p.cc_email:
        msg["Cc"] = _no_newlines(p.cc_email, "ccEmail")
    if p.reply_to:
        msg["Reply-To"] = _no_newlines(p.reply_to, "replyTo")
    msg["Subject"] = _no_newlines(p.subject, "subject")
    msg["Message-ID"] = make_msgid(domain=domain)
    text = p.text if p.email_format in ("text", "both") else ""
    html = p.html if p.email_format in ("html", "both") else ""
    if p.append_attribution:
        text = f"{text}\n\n---\n{ATTRIBUTION}" if text else text
        html = f"{html}<br><br>---<br><em>{ATTRIBUTION}</em>" if html else html
    if html:
        # the text part first: a multipart/alternative lists the plainest form first
        if text:
            msg.set_content(text)
            msg.add_alternative(html, subtype="html")
        else:
            msg.set_content(html, subtype="html")
    else:
        msg.set_content(text)
    # Bcc stays out of the headers: it only reaches the envelope
    recipients = [
        *_addresses(p.to_email, "toEmail"),
        *_addresses(p.cc_email, "ccEmail"),
        *_addresses(p.bcc_email, "bccEmail"),
    ]
    if not recipients:
        raise NodeError("the message has no recipient (toEmail, ccEmail or bccEmail)", retryable=False)
    return msg, recipients


def _client(cred: Mapping[str, Any], verify: bool) -> aiosmtplib.SMTP:
    import aiosmtplib

    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    secure = bool(cred.get("secure", True))
    return aiosmtplib.SMTP(
        hostname=str(cred.get("host") or "localhost"),
        port=int(cred.get("port") or (465 if secure else 587)),
        use_tls=secure,
        # None: STARTTLS when the server offers it
        start_tls=False if secure else None,
        timeout=TIMEOUT_S,
        tls_context=context,
    )


def _node_error(exc: Exception, node: str, i: int | None) -> NodeError:
    import aiosmtplib

    if isinstance(exc, NodeError):
        exc.node = exc.node or node
        exc.item_index = i if exc.item_index is None else exc.item_index
        return exc
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        # the server's own words, never the credential
        return NodeError(
            f"SMTP login failed: {exc.code} {exc.message}", node=node, item_index=i, retryable=False
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        # 4xx is the server saying "later"; 5xx will not change on retry
        retryable = 400 <= exc.code < 500
        return NodeError(f"SMTP: {exc.code} {exc.message}", node=node, item_index=i, retryable=retryable)
    if isinstance(exc, ssl.SSLCertVerificationError) or isinstance(
        exc.__cause__, ssl.SSLCertVerificationError
    ):
        # an untrusted certificate stays untrusted: retrying will not help
        return NodeError(
            f"SMTP: the server's TLS certificate is not trusted ({exc}); "
            "allowUnauthorizedCerts skips the check",
            node=node,
            item_index=i,
            retryable=False,
        )
    if isinstance(exc, OSError):
        # connection refused, dropped or timed out (aiosmtplib's are OSErrors too): another try
        # may reach the server
        return NodeError(f"SMTP: could not reach the server: {exc}", node=node, item_index=i, retryable=True)
    # every recipient refused, or a feature (AUTH, STARTTLS) the server lacks: the same next time
    return NodeError(f"SMTP: {exc}", node=node, item_index=i, retryable=False)


async def _send(client: aiosmtplib.SMTP, msg: EmailMessage, recipients: list[str], i: int) -> Item:
    errors, _response = await client.send_message(msg, recipients=recipients)
    rejected = sorted(errors)
    accepted = [r for r in recipients if r not in errors]
    return {
        "json": {"accepted": accepted, "rejected": rejected, "messageId": str(msg["Message-ID"])},
        "pairedItem": {"item": i},
    }


async def execute(ctx: NodeContext, items: Items, params: Params) -> NodeOutput:
    import aiosmtplib

    cred = await ctx.credentials("smtp")
    all_params = await ctx.item_params() if ctx.params_dynamic else [params] * len(items)
    client = _client(cred, verify=not params.allow_unauthorized_certs)
    try:
        await client.connect()
        if cred.get("user"):
            await client.login(str(cred["user"]), str(cred.get("password") or ""))
    except (aiosmtplib.SMTPException, OSError) as exc:
        client.close()
        raise _node_error(exc, ctx.node_name, None) from exc
    domain = str(cred.get("host") or "localhost")
    out: Items = []
    try:
        for i, (item, ip) in enumerate(zip(items, all_params, strict=True)):
            try:
                p = cast(Params, ip)
                msg, recipients = _message(p, item, domain)
                if p.attachments:
                    await _attach(ctx, msg, item, p.attachments)
                out.append(await _send(client, msg, recipients, i))
            except (aiosmtplib.SMTPException, OSError, NodeError) as exc:
                failed = ctx.fail_item(_node_error(exc, ctx.node_name, i), i)
                if failed is not None:
                    out.append(failed)
    finally:
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()
    return [out]


def from_n8n(p: dict[str, Any], version: float) -> dict[str, Any]:
    names = {
        "fromEmail": "from_email",
        "toEmail": "to_email",
        "subject": "subject",
        "text": "text",
        "html": "html",
    }
    out = {ours: p[theirs] for theirs, ours in names.items() if theirs in p}
    if version >= 2:
        # n8n 2 defaults to text, 2.1 to html
        out["email_format"] = p.get("emailFormat", "html" if version >= 2.1 else "text")
    options = p.get("options") or {}
    if version < 2:
        # v1 has cc, bcc and the attachment list at the top level; its options are only
        # allowUnauthorizedCerts and replyTo
        options = {**{k: p[k] for k in ("ccEmail", "bccEmail", "attachments") if k in p}, **options}
    for theirs, ours in {
        "ccEmail": "cc_email",
        "bccEmail": "bcc_email",
        "replyTo": "reply_to",
        "attachments": "attachments",
        "allowUnauthorizedCerts": "allow_unauthorized_certs",
        "appendAttribution": "append_attribution",
    }.items():
        if theirs in options:
            out[ours] = options[theirs]
    return out


SPECS: tuple[NodeSpec, ...] = (
    NodeSpec(
        type="relayflow.emailSend",
        version=1,
        title="Send Email",
        group="action",
        description="Send an email per item over SMTP: text, HTML or both, cc/bcc, attachments from binary data.",
        params=Params,
        execute=execute,
        credentials=(CredentialSlot("smtp", required=True),),
        aliases=(N8nAlias("n8n-nodes-base.emailSend", (1, 2, 2.1), translate=from_n8n),),
    ),
)
