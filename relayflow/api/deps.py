"""What routes share: the services dependency and the JSON response."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from relayflow.api.services import ApiServices


class JsonResponse(JSONResponse):
    """JSON rendered by orjson (datetimes as ISO 8601, anything else as ``str``). A JSONResponse,
    so that FastAPI documents the routes' response models."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str)


def get_services(request: Request) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


Services = Annotated[ApiServices, Depends(get_services)]


# PostgreSQL text holds no NUL character: an id or a filter holding one is refused (422, naming
# the parameter) rather than sent to the database.
NO_NUL = r"^[^\x00]*$"
PathId = Annotated[str, Path(pattern=NO_NUL)]


def text_query(description: str | None = None) -> Any:
    """A text filter in the query string, without NUL."""
    return Query(pattern=NO_NUL, description=description)
