"""The REST API (``/api/v1``): ``create_app(services)`` builds the FastAPI application.

Invariants: routes reach storage and the engine only through ``ApiServices``; every error leaves
through the one handler in ``problems.py`` as ``application/problem+json``; every ``/api/v1``
route depends on ``security.authenticate`` so authentication can wrap it.
"""

from relayflow.api.app import create_app
from relayflow.api.services import ApiServices, RunTracker, build_services

__all__ = ["ApiServices", "RunTracker", "build_services", "create_app"]
