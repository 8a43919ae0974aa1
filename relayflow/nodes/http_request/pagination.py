"""Pagination (``options.pagination.pagination``): request page after page for one item.

Its expressions are deferred (``NodeSpec.deferred_params``): they are evaluated here, after each
response, with n8n's ``$response`` (``body``, ``headers``, ``statusCode``, ``statusMessage``),
``$request`` (``url``, ``method``, ``qs``, ``headers``, ``body``) and ``$pageCount`` (the pages
fetched so far) besides the item's own variables.

Modes: ``updateAParameterInEachRequest`` (each parameter, of type ``qs``, ``body`` or
``headers``, is set on the next request), ``responseContainsNextURL`` (``nextURL``; an empty one
ends). It ends when ``paginationCompleteWhen`` says: ``responseIsEmpty`` (an empty body: that
page yields nothing), ``receiveSpecificStatusCodes`` (``statusCodesWhenComplete``, e.g. "404,
204": that page yields nothing and is no error) or ``other`` (``completeExpression`` is true:
that page is kept); and after ``maxRequests`` requests when ``limitPagesFetched`` is on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from relayflow.engine.context import NodeContext
from relayflow.errors import NodeError
from relayflow.nodes.http_request.params import Params
from relayflow.nodes.http_request.request import Request, check_url, query_pairs, text
from relayflow.nodes.http_request.response import Response, status_error, view

# the same body this many times in a row: the parameters do not move the pages on
MAX_IDENTICAL_PAGES = 5


class PageParameter(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["qs", "body", "headers"] = "qs"
    name: str = ""
    value: Any = ""


class PageParameters(BaseModel):
    model_config = ConfigDict(extra="ignore")

    parameters: list[PageParameter] = []


class Settings(BaseModel):
    """The pagination settings (n8n's names); expression fields stay unevaluated here."""

    # the editor also writes notices and fields of other modes: tolerated
    model_config = ConfigDict(extra="ignore")

    paginationMode: Literal["off", "updateAParameterInEachRequest", "responseContainsNextURL"] = (
        "updateAParameterInEachRequest"
    )
    nextURL: Any = ""
    parameters: PageParameters = PageParameters()
    paginationCompleteWhen: Literal["responseIsEmpty", "receiveSpecificStatusCodes", "other"] = (
        "responseIsEmpty"
    )
    statusCodesWhenComplete: Any = ""
    completeExpression: Any = ""
    limitPagesFetched: bool = False
    maxRequests: int = Field(default=100, ge=1)
    requestInterval: float = Field(default=0, ge=0)


_STATIC = ("paginationMode", "paginationCompleteWhen", "statusCodesWhenComplete", "limitPagesFetched")
_STATIC_NUMBERS = ("maxRequests", "requestInterval")


def raw_settings(p: Params) -> dict[str, Any] | None:
    """The pagination fields: n8n nests them (``pagination.pagination``); a flat dict is read too."""
    raw = p.options.pagination
    if not isinstance(raw, dict) or not raw:
        return None
    inner = raw.get("pagination")
    return dict(inner) if isinstance(inner, dict) else dict(raw)


async def settings(ctx: NodeContext, p: Params, index: int) -> Settings | None:
    """The item's pagination settings (None: no pagination)."""
    raw = raw_settings(p)
    if raw is None:
        return None
    for key in (*_STATIC, *_STATIC_NUMBERS):
        if key in raw:
            raw[key] = await ctx.evaluate(raw[key], index, parameter=f"options.pagination.{key}")
    try:
        found = Settings.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise NodeError(
            f"item {index}: pagination option {where!r}: {err['msg']}", item_index=index, retryable=False
        ) from None
    return None if found.paginationMode == "off" else found


def _status_codes(value: Any, index: int) -> set[int]:
    parts = value if isinstance(value, list) else str(value or "").split(",")
    try:
        return {int(str(v).strip()) for v in parts if str(v).strip()}
    except ValueError:
        raise NodeError(
            f"item {index}: 'statusCodesWhenComplete' must list status codes (e.g. \"404,204\"), got {value!r}",
            item_index=index,
            retryable=False,
        ) from None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0")
    return bool(value)


def _is_empty(body: Any, resp: Response) -> bool:
    if resp.file is not None:
        return resp.file.get("bytes") == 0
    return body is None or body in ("", [], {})


def _set(req: Request, param: PageParameter, value: Any, p: Params, index: int) -> Request:
    if param.type == "headers":
        name = param.name.lower() if p.options.lowercaseHeaders else param.name
        headers = {k: v for k, v in req.headers.items() if k.lower() != param.name.lower()}
        return req.with_(headers={**headers, name: text(value)})
    if param.type == "qs":
        kept = [(k, v) for k, v in req.query if k != param.name and not k.startswith(param.name + "[")]
        return req.with_(query=kept + query_pairs([(param.name, value)], p.options.queryParameterArrays))
    if req.form is not None:
        return req.with_(form=[(k, v) for k, v in req.form if k != param.name] + [(param.name, text(value))])
    if req.json is None or isinstance(req.json, dict):
        return req.with_(json={**(req.json or {}), param.name: value})
    raise NodeError(
        f"item {index}: pagination parameter {param.name!r} of type 'body' needs a JSON object or "
        "form-urlencoded body",
        item_index=index,
        retryable=False,
    )


class Pager:
    """The pages of one item: ``run`` sends requests through ``send`` until the settings say stop."""

    def __init__(
        self,
        ctx: NodeContext,
        p: Params,
        index: int,
        found: Settings,
        send: Callable[[Request], Awaitable[Response]],
    ) -> None:
        self.ctx, self.p, self.index, self.s, self.send = ctx, p, index, found, send
        self.stop_codes = (
            _status_codes(found.statusCodesWhenComplete, index)
            if found.paginationCompleteWhen == "receiveSpecificStatusCodes"
            else set()
        )

    async def _eval(self, value: Any, variables: dict[str, Any], name: str) -> Any:
        return await self.ctx.evaluate(value, self.index, variables, parameter=f"options.pagination.{name}")

    async def _next(self, req: Request, variables: dict[str, Any]) -> Request | None:
        if self.s.paginationMode == "responseContainsNextURL":
            url = await self._eval(self.s.nextURL, variables, "nextURL")
            if url in (None, ""):
                return None
            return req.with_(url=check_url(str(url), self.index), query=[])
        for param in self.s.parameters.parameters:
            if param.name:
                value = await self._eval(param.value, variables, f"parameters.{param.name}")
                req = _set(req, param, value, self.p, self.index)
        return req

    async def _complete(self, variables: dict[str, Any]) -> bool:
        """After a kept page: whether it was the last one."""
        if self.s.paginationCompleteWhen == "other":
            done = await self._eval(self.s.completeExpression, variables, "completeExpression")
            if _truthy(done):
                return True
        return self.s.limitPagesFetched and variables["$pageCount"] >= self.s.maxRequests

    async def run(self, first: Request) -> list[Response]:
        pages: list[Response] = []
        req: Request | None = first
        same = 0
        while req is not None:
            if pages and self.s.requestInterval:
                await self.ctx.sleep(self.s.requestInterval / 1000)
            resp = await self.send(req)
            if resp.status in self.stop_codes:
                break
            if resp.status >= 400 and not self.p.response.neverError:
                raise status_error(resp, self.p.method, self.index)
            response = view(resp, self.p, self.index)
            if self.s.paginationCompleteWhen == "responseIsEmpty" and _is_empty(response["body"], resp):
                break
            same = same + 1 if pages and resp.file is None and resp.body == pages[-1].body else 0
            pages.append(resp)
            variables = {"$response": response, "$request": req.view(), "$pageCount": len(pages)}
            if await self._complete(variables):
                break
            if same >= MAX_IDENTICAL_PAGES - 1:
                raise NodeError(
                    f"item {self.index}: the last {MAX_IDENTICAL_PAGES} pages were identical: pagination "
                    "stopped (do the pagination parameters change the request?)",
                    item_index=self.index,
                    retryable=False,
                )
            req = await self._next(req, variables)
        return pages
