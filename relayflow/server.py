"""The composition root of the server process (``relayflow start``).

Opens the stores, builds the engine on them, and serves the API with ``uvicorn.Server.serve()``
inside our own event loop, so the scheduler and executor can live next to it. SIGTERM/SIGINT:
stop accepting, let in-flight executions finish within ``RELAYFLOW_SHUTDOWN_GRACE_S``, cancel
what is left, flush and close the stores, return (exit 0). A second signal skips the wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import uvicorn

from relayflow.api import ApiServices, build_services, create_app
from relayflow.api.headers import CorsSettings
from relayflow.api.services import start_waits
from relayflow.binary.filesystem import FilesystemBinaryStore
from relayflow.errors import InputInvalid, OperationalError, RelayflowError
from relayflow.http_session import SharedSession
from relayflow.runtime import SERVER_GC_THRESHOLD, tune_gc
from relayflow.security.ssrf import AllowList
from relayflow.store.ports import ExecutionStore, FiredSlotStore, WorkflowStore
from relayflow.store.pruner import Pruner
from relayflow.store.retention import RetentionSettings
from relayflow.store.save_policy import SaveDefaults
from relayflow.store.webhook_registry import WebhookRegistry
from relayflow.triggers.scheduler import Scheduler, SchedulerSettings

if TYPE_CHECKING:
    from relayflow.access.sql import SqlAccessStore

T = TypeVar("T")

log = logging.getLogger("relayflow.server")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5678
DEFAULT_SHUTDOWN_GRACE_S = 30.0


@dataclass(frozen=True)
class ServerSettings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    shutdown_grace_s: float = DEFAULT_SHUTDOWN_GRACE_S
    # an async SQLAlchemy URL; relayflow/store/config.py derives it from RELAYFLOW_HOME and
    # RELAYFLOW_DATABASE_URL (SQLite under RELAYFLOW_HOME by default)
    database_url: str = "sqlite+aiosqlite:///relayflow.db"
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    # a Wait this long or longer parks the execution (durable); shorter ones sleep in process
    wait_park_after_s: float = 1.0
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    save: SaveDefaults = field(default_factory=SaveDefaults)
    # RELAYFLOW_HOME: the encryption key file lives there (relayflow/security/secrets.py);
    # None: relayflow_home() when the server starts
    home: Path | None = None
    # RELAYFLOW_BINARY_DIR: where binary item data lies; None: $RELAYFLOW_HOME/binary
    binary_dir: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        """Read RELAYFLOW_HOST, _PORT, _SHUTDOWN_GRACE_S, _HOME, _DATABASE_URL, _SCHEDULER_REFRESH_S,
        _SCHEDULE_MISFIRE, _WAIT_PARK_AFTER_S and _ENCRYPTION_KEY; InputInvalid if bad."""
        from relayflow.security.secrets import ENV_KEY, parse_keys
        from relayflow.store.config import database_url, relayflow_home

        env = os.environ if environ is None else environ
        port_raw = env.get("RELAYFLOW_PORT", str(DEFAULT_PORT))
        try:
            port = int(port_raw)
        except ValueError:
            port = -1
        if not 0 <= port <= 65535:
            raise InputInvalid(f"RELAYFLOW_PORT must be a port number (0-65535), not {port_raw!r}")
        grace = _seconds(env, "RELAYFLOW_SHUTDOWN_GRACE_S", DEFAULT_SHUTDOWN_GRACE_S)
        park = _seconds(env, "RELAYFLOW_WAIT_PARK_AFTER_S", 1.0)
        AllowList.from_env(env)  # a bad RELAYFLOW_HTTP_ALLOW stops the start, not a node run later
        CorsSettings.from_env(env)  # the same for RELAYFLOW_CORS_ORIGINS (create_app reads it again)
        if env.get(ENV_KEY):
            parse_keys(env[ENV_KEY])  # a bad key stops the start, not the first credential read
        return cls(
            host=env.get("RELAYFLOW_HOST", DEFAULT_HOST) or DEFAULT_HOST,
            port=port,
            shutdown_grace_s=grace,
            database_url=database_url(env),
            scheduler=SchedulerSettings.from_env(env),
            wait_park_after_s=park,
            retention=RetentionSettings.from_env(env),
            save=SaveDefaults.from_env(env),
            home=relayflow_home(env),
            binary_dir=Path(env["RELAYFLOW_BINARY_DIR"]).expanduser()
            if env.get("RELAYFLOW_BINARY_DIR")
            else None,
        )


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise InputInvalid(f"{name} must be seconds >= 0, not {raw!r}")
    return value


async def _open(settings: ServerSettings, opener: Callable[[str], Awaitable[T]]) -> T:
    """``opener`` on ``settings.database_url``; OperationalError (the URL without its password)
    when the database is unreachable."""
    from sqlalchemy.engine import make_url

    try:
        return await opener(settings.database_url)
    except RelayflowError:
        raise
    except Exception as exc:
        shown = make_url(settings.database_url).render_as_string(hide_password=True)
        raise OperationalError(f"cannot open the database {shown}: {exc}") from exc


async def open_stores(
    settings: ServerSettings,
) -> tuple[WorkflowStore, ExecutionStore, FiredSlotStore, WebhookRegistry, SqlAccessStore]:
    """Every store the server uses, migrated; those already open are closed if one fails."""
    from relayflow.access.sql import open_access_store
    from relayflow.store import config
    from relayflow.store.sql.fired_slots import open_fired_slots
    from relayflow.store.sql.webhook_registry import open_webhook_registry

    opened: list[Any] = []
    try:
        workflows, executions = await _open(settings, config.open_stores)
        opened += [executions, workflows]
        slots = await _open(settings, open_fired_slots)
        opened.append(slots)
        hooks = await _open(settings, open_webhook_registry)
        opened.append(hooks)
        access = await _open(settings, open_access_store)
    except BaseException:
        for store in reversed(opened):
            await store.close()
        raise
    return workflows, executions, slots, hooks, access


def start_scheduler(services: ApiServices, slots: FiredSlotStore, settings: SchedulerSettings) -> Scheduler:
    """The scheduler on the API's stores and engine, its loop running as a task (``scheduler.loop``)."""
    scheduler = Scheduler(
        services.workflows,
        slots,
        services.engine,
        refresh_s=settings.refresh_s,
        misfire=settings.misfire,
    )
    scheduler.loop = asyncio.create_task(scheduler.run(), name="scheduler")
    services.on_workflows_changed = scheduler.wake
    return scheduler


async def stop_scheduler(scheduler: Scheduler, grace_s: float) -> None:
    """Stop firing, let scheduled runs finish within ``grace_s``, cancel the rest."""
    scheduler.stop()
    if scheduler.loop is not None:
        try:
            await scheduler.loop
        except Exception:
            log.exception("the scheduler failed")
    cancelled = await scheduler.drain(grace_s)
    if cancelled:
        log.warning("cancelled %d scheduled execution(s) still running after the grace period", cancelled)
    await scheduler.slots.close()


def listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves, so a taken port is one readable line (exit 2)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise InputInvalid(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise InputInvalid(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.setblocking(False)
    return sock


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: it would re-raise SIGTERM after shutting down."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class Shutdown:
    """SIGTERM/SIGINT: the first stops accepting; a second one stops waiting."""

    def __init__(self, server: uvicorn.Server) -> None:
        self.server = server
        self.requested_at: float | None = None
        self.hurry = asyncio.Event()

    def __call__(self, sig: signal.Signals) -> None:
        loop = asyncio.get_running_loop()
        if self.requested_at is None:
            log.info("%s: shutting down", sig.name)
            self.requested_at = loop.time()
        else:
            log.info("%s again: not waiting any longer", sig.name)
            self.server.force_exit = True
            self.hurry.set()
        self.server.should_exit = True

    def remaining(self, grace_s: float) -> float:
        if self.requested_at is None:
            return grace_s
        return max(0.0, grace_s - (asyncio.get_running_loop().time() - self.requested_at))


async def serve(settings: ServerSettings) -> None:
    """Run the server until SIGTERM or SIGINT."""
    from relayflow.access.ratelimit import RateLimits, RateLimitSettings
    from relayflow.access.service import AccessService
    from relayflow.access.tokens import TokenSettings
    from relayflow.security.secrets import load_keyring
    from relayflow.store.config import relayflow_home

    # first: a bad key (or a key file others can read) stops the start before anything opens
    keyring = load_keyring(settings.home or relayflow_home())
    # so do bad token lifetimes or rate limits (RELAYFLOW_*_TTL_S, *_PER_MINUTE)
    token_settings, limits = TokenSettings.from_env(), RateLimits(RateLimitSettings.from_env())
    from relayflow.store.idempotency import ttl_from_env

    idempotency_ttl = ttl_from_env()  # a bad RELAYFLOW_IDEMPOTENCY_TTL_HOURS stops the start too
    sock = listen(settings.host, settings.port)
    try:
        workflows, executions, slots, hooks, access_store = await open_stores(settings)
    except BaseException:
        sock.close()
        raise
    host, port = sock.getsockname()[:2]
    tune_gc(SERVER_GC_THRESHOLD)  # before build_services (whose engine would pick the CLI's)
    services = build_services(
        workflows,
        executions,
        base_url=f"http://{host}:{port}",
        wait_park_after_s=settings.wait_park_after_s,
        save_defaults=settings.save,
        webhook_registry=hooks,
        access=AccessService(access_store, keyring, tokens=token_settings, limits=limits),
        binary=FilesystemBinaryStore(settings.binary_dir or (settings.home or relayflow_home()) / "binary"),
    )
    from relayflow.store.sql.idempotency import open_idempotency_store

    services.idempotency = await _open(settings, open_idempotency_store)
    pruner = Pruner(
        services.executions,
        settings.retention,
        janitor=services.janitor,
        idempotency=services.idempotency,
        idempotency_ttl=idempotency_ttl,
    )
    scheduler = start_scheduler(services, slots, settings.scheduler)
    parked = await start_waits(services)
    await pruner.start()
    if parked:
        log.info("%d waiting execution(s) have timers", parked)
    # (uvicorn runs with lifespan="off": what the app's lifespan does is done here)
    if await services.access.store.count_users() == 0:
        log.warning(
            "no users yet: create the owner with POST /api/v1/setup or `relayflow user create "
            "--owner`; until then every /api/v1 route answers 401"
        )
    else:
        from relayflow.api.authz import adopt_at_start

        await adopt_at_start(services)
    config = uvicorn.Config(
        create_app(services),
        lifespan="off",
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_s),
        server_header=False,
        # a log line per request costs ~7 % of a webhook call's CPU (benchmark S1); errors are
        # still logged, and /metrics counts requests
        access_log=False,
        # no route speaks WebSocket: not loading uvicorn's implementation saves start time (S11)
        ws="none",
        # JSON logs: uvicorn's records go to the root logger's JSON handler
        log_config=None if "relayflow.observability.logs" in sys.modules else uvicorn.config.LOGGING_CONFIG,
    )
    server = _Server(config)
    shutdown = Shutdown(server)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, shutdown, sig)
    try:
        log.info("relayflow listening on http://%s:%s", host, port)
        await server.serve(sockets=[sock])
    finally:
        sock.close()
        await stop_scheduler(scheduler, shutdown.remaining(settings.shutdown_grace_s))
        if services.timers is not None:
            await services.timers.stop(shutdown.remaining(settings.shutdown_grace_s))
        await pruner.stop()
        await close(services, shutdown.remaining(settings.shutdown_grace_s), shutdown.hurry)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def close(services: ApiServices, grace_s: float, hurry: asyncio.Event) -> None:
    """Let runs finish within ``grace_s`` (until ``hurry``: a second signal), flush and close."""
    if services.runs.in_flight:
        log.info("waiting up to %.0f s for %d execution(s)", grace_s, services.runs.in_flight)
    cancelled = await services.runs.drain(grace_s, services.engine, hurry)
    if cancelled:
        log.warning("cancelled %d execution(s) still running after the grace period", cancelled)
    await services.executions.flush()
    if services.janitor is not None:
        await services.janitor.close()
    await services.executions.close()
    await services.workflows.close()
    await services.webhook_registry.close()
    await services.idempotency.close()
    await services.access.store.close()
    http = services.engine.services.http
    if isinstance(http, SharedSession):
        await http.close()
    if services.engine.expressions is not None:
        services.engine.expressions.close()
    if "relayflow.observability.tracing" in sys.modules:  # flush the batched spans
        from relayflow.observability.tracing import shutdown_tracing

        shutdown_tracing()


def run(settings: ServerSettings) -> None:
    """Serve on uvloop when it is installed (``uvicorn[standard]``), else asyncio's loop."""
    if os.environ.get("RELAYFLOW_LOG_FORMAT", "").strip().lower() == "json":
        from relayflow.observability.logs import configure_json_logging

        configure_json_logging()
    else:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve(settings))
