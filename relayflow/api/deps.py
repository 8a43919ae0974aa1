"""What routes share: the services dependency and the JSON response."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.responses import Response

from relayflow.api.services import ApiServices


class JsonResponse(Response):
    """JSON rendered by orjson (datetimes as ISO 8601, anything else as ``str``)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str)


def get_services(request: Request) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


Services = Annotated[ApiServices, Depends(get_services)]
