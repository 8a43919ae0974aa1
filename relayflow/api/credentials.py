"""``/credentials``: typed, encrypted credentials; ``/credential-types``; the OAuth2 flow.

- ``router`` (under /api/v1, authenticated): create (``?projectId=``), list (``?type=``,
  ``?projectId=``), get (``data`` only for editors of the owning project, secrets redacted),
  patch, delete, ``POST /{id}/test``, ``PUT /{id}/share``, ``PUT /{id}/transfer``, and
  ``GET /{id}/oauth2/authorize``;
- ``types_router`` (under /api/v1, authenticated): the credential types and their fields;
- ``callback_router`` (public, at the root): ``GET /oauth2/callback``, where the authorization
  server sends the browser back. It is authenticated by its sealed ``state``.

The rules (who sees what, the placeholder, audit) are relayflow/credentials/service.py's.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from relayflow.api.deps import JsonResponse, PathId, Services, text_query
from relayflow.api.schemas import (
    CredentialIn,
    CredentialList,
    CredentialOut,
    CredentialPatch,
    CredentialShare,
    CredentialTestOut,
    CredentialTransfer,
    CredentialTypeList,
    OAuth2Authorization,
    problems,
)
from relayflow.api.security import CurrentPrincipal
from relayflow.api.services import ApiServices
from relayflow.credentials.oauth2 import OAuth2Refused
from relayflow.credentials.service import CredentialService, Seen
from relayflow.credentials.types import credential_types
from relayflow.errors import InputInvalid

router = APIRouter(prefix="/credentials", tags=["credentials"])
types_router = APIRouter(prefix="/credential-types", tags=["credentials"])
callback_router = APIRouter(tags=["credentials"])

CALLBACK_PATH = "/oauth2/callback"
PUBLIC_URL_ENV = "RELAYFLOW_PUBLIC_URL"
ProjectFilter = Annotated[str | None, text_query("Owned by, or shared with, this project.")]


def credential_service(services: ApiServices) -> CredentialService:
    """The services' credential service (build_services makes it; made here for services built
    another way), reading ``services.access`` at each use."""
    if services.credentials is None:
        services.credentials = CredentialService(lambda: services.access)
    return services.credentials


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


def credential_json(seen: Seen, data: dict[str, Any] | None = None) -> dict[str, Any]:
    cred = seen.credential
    out: dict[str, Any] = {
        "id": cred.id,
        "name": cred.name,
        "type": cred.type,
        "projectId": cred.project_id,
        "sharedWith": sorted(seen.shared_with),
        "createdAt": cred.created_at,
        "updatedAt": cred.updated_at,
    }
    if data is not None:
        out["data"] = data
    return out


def redirect_uri(request: Request) -> str:
    base = os.environ.get(PUBLIC_URL_ENV) or str(request.base_url)
    return base.rstrip("/") + CALLBACK_PATH


@router.post("", status_code=201, response_model=CredentialOut, responses=problems(403, 404, 422))
async def create_credential(
    services: Services,
    principal: CurrentPrincipal,
    request: Request,
    body: CredentialIn,
    projectId: ProjectFilter = None,
) -> JsonResponse:
    """Store a credential in a project where the caller is an editor (their personal one by
    default); ``data`` is checked against the type's fields."""
    service = credential_service(services)
    seen = await service.create(
        principal, name=body.name, type_=body.type, data=body.data, project_id=projectId or body.projectId
    )
    data = await service.read_data(principal, seen, ip=client_ip(request))
    return JsonResponse(credential_json(seen, data), status_code=201)


@router.get("", response_model=CredentialList, responses=problems(422))
async def list_credentials(
    services: Services,
    principal: CurrentPrincipal,
    type: Annotated[str | None, text_query("Only this credential type.")] = None,
    projectId: ProjectFilter = None,
) -> JsonResponse:
    """The credentials the caller can see (never their data), by name."""
    seen = await credential_service(services).list(principal, type_=type, project_id=projectId)
    return JsonResponse({"data": [credential_json(s) for s in seen]})


@router.get("/{credential_id}", response_model=CredentialOut, responses=problems(404, 422))
async def get_credential(
    services: Services, principal: CurrentPrincipal, request: Request, credential_id: PathId
) -> JsonResponse:
    """Name, type, project and shares; editors of the owning project also get ``data`` with
    every secret field as ``__relayflow_redacted__`` (an audited read)."""
    service = credential_service(services)
    seen = await service.seen(principal, credential_id)
    data = await service.read_data(principal, seen, ip=client_ip(request)) if seen.can_edit else None
    return JsonResponse(credential_json(seen, data))


@router.patch("/{credential_id}", response_model=CredentialOut, responses=problems(403, 404, 422))
async def update_credential(
    services: Services,
    principal: CurrentPrincipal,
    request: Request,
    credential_id: PathId,
    body: CredentialPatch,
) -> JsonResponse:
    """Rename, or change fields (merged over the stored ones)."""
    service = credential_service(services)
    seen = await service.update(
        principal, credential_id, name=body.name, data=body.data, ip=client_ip(request)
    )
    data = await service.read_data(principal, seen, ip=client_ip(request))
    return JsonResponse(credential_json(seen, data))


@router.delete("/{credential_id}", status_code=204, responses=problems(403, 404, 422))
async def delete_credential(
    services: Services, principal: CurrentPrincipal, request: Request, credential_id: PathId
) -> Response:
    await credential_service(services).delete(principal, credential_id, ip=client_ip(request))
    return Response(status_code=204)


@router.post("/{credential_id}/test", response_model=CredentialTestOut, responses=problems(403, 404, 422))
async def test_credential(
    services: Services, principal: CurrentPrincipal, request: Request, credential_id: PathId
) -> JsonResponse:
    """Connect with the credential (a database, Redis, SMTP, Slack, an OAuth2 token endpoint).
    A refused connection is an answer with ``status: error``, not an HTTP error."""
    result = await credential_service(services).test(principal, credential_id, ip=client_ip(request))
    return JsonResponse({"status": result.status, "message": result.message})


@router.put("/{credential_id}/share", response_model=CredentialOut, responses=problems(403, 404, 422))
async def share_credential(
    services: Services,
    principal: CurrentPrincipal,
    request: Request,
    credential_id: PathId,
    body: CredentialShare,
) -> JsonResponse:
    """Let these projects' workflows use the credential (their members see its name and type)."""
    seen = await credential_service(services).share(
        principal, credential_id, body.projectIds, ip=client_ip(request)
    )
    return JsonResponse(credential_json(seen))


@router.put("/{credential_id}/transfer", response_model=CredentialOut, responses=problems(403, 404, 422))
async def transfer_credential(
    services: Services,
    principal: CurrentPrincipal,
    request: Request,
    credential_id: PathId,
    body: CredentialTransfer,
) -> JsonResponse:
    """Move the credential to another project (one the caller is a member of)."""
    seen = await credential_service(services).transfer(
        principal, credential_id, body.projectId, ip=client_ip(request)
    )
    return JsonResponse(credential_json(seen))


@router.get(
    "/{credential_id}/oauth2/authorize",
    response_model=OAuth2Authorization,
    responses=problems(403, 404, 422),
)
async def authorize_oauth2(
    services: Services, principal: CurrentPrincipal, request: Request, credential_id: PathId
) -> JsonResponse:
    """The URL to open in a browser to connect an authorization-code OAuth2 credential; the
    authorization server sends the browser back to ``/oauth2/callback`` (valid 10 minutes)."""
    url = await credential_service(services).authorize(principal, credential_id, redirect_uri(request))
    return JsonResponse({"authorizationUrl": url})


@types_router.get("", response_model=CredentialTypeList)
async def list_credential_types() -> JsonResponse:
    """Every credential type with its fields (``secret`` ones are never returned in clear)."""
    return JsonResponse({"data": [t.describe() for t in credential_types()]})


CONNECTED_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>Connected</title></head>"
    "<body><p>The credential is connected; you can close this window.</p></body></html>"
)


CALLBACK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "The credential is connected."},
    **problems(400, 422),
}


@callback_router.get(
    CALLBACK_PATH,
    response_class=Response,
    responses=CALLBACK_RESPONSES,
)
async def oauth2_callback(
    services: Services,
    request: Request,
    code: Annotated[str | None, Query(max_length=4096, pattern=r"^[^\x00]*$")] = None,
    state: Annotated[str | None, Query(max_length=8192, pattern=r"^[^\x00]*$")] = None,
    error: Annotated[str | None, Query(max_length=1024, pattern=r"^[^\x00]*$")] = None,
) -> Response:
    """Where the authorization server returns the browser (public: the sealed ``state`` names
    the credential and who started the flow). Exchanges ``code`` for tokens and stores them."""
    if error:
        raise OAuth2Refused(f"the authorization server answered: {error[:200]}")
    if not code or not state:
        raise InputInvalid("code and state are required")
    await credential_service(services).callback(code, state, redirect_uri(request), ip=client_ip(request))
    return Response(
        CONNECTED_PAGE,
        media_type="text/html; charset=utf-8",
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "no-store",
        },
    )
