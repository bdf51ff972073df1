"""The FastAPI application: ``create_app()`` builds it; the lifespan loads the model and policy.

Nothing is loaded at import time. A bundle whose checksum or types do not verify, or a policy
file that does not validate, stops start-up with a message that says why.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from service.access.service import KeyChecker
from service.access.sessions import purge_sessions
from service.config import Settings, drift_limits, get_settings, rate_limits
from service.dashboard.router import router as dashboard_router
from service.errors import install_error_handlers
from service.integrations.inbox import InboxProcessor, process_inbox
from service.integrations.router import WEBHOOK_PATH
from service.integrations.router import router as integrations_router
from service.integrations.service import InboxWriter
from service.integrations.writeback import DeliverySender, send_deliveries
from service.lifecycle import frozen_heap, pause
from service.model.bundle import load_bundle, resolve_bundle_dir
from service.monitoring.metrics import watch_drift
from service.monitoring.service import DriftReport, drift_report
from service.observability import RequestContextMiddleware, configure_logging, logger, publish_model
from service.ops.docs import install_docs
from service.ops.router import router as ops_router
from service.pages.dashboard import router as dashboard_page_router
from service.pages.ops import router as ops_page_router
from service.pages.router import router as pages_router
from service.pages.web import STATIC_DIR, install_page_handlers
from service.queue.router import router as queue_router
from service.registry.router import router as models_router
from service.registry.serving import champion_bundle, follow_champion
from service.registry.shadow import ShadowRecorder, follow_shadow
from service.scoring.engine import Scorer, score_ticket
from service.scoring.policy import load_policy
from service.scoring.router import router as scoring_router
from service.scoring.schemas import TicketScoreRequest
from service.storage.database import database_url, make_engine, session_factory, upgrade
from service.tickets.retention import purge_expired
from service.tickets.router import router as tickets_router
from service.tickets.service import TicketStore

# One ticket per way a text reaches the compiled kernels (ASCII, one byte a character, any other
# Unicode): each is compiled or loaded from numba's cache here, not during a request.
WARM_UP_TICKETS = (
    TicketScoreRequest(text="Hello, this is the third time I write: my invoice is wrong!", subject="warm-up"),
    TicketScoreRequest(text="Bonjour, ma facture de £12 est fausse et je suis inquiète.", subject="warm-up"),
    TicketScoreRequest(
        text="Hello, my invoice of €12 is wrong and I am worried. Dank je wel!", subject="warm-up"
    ),
)


def build_scorer(path: Path, settings: Settings) -> Scorer:
    """Load and verify the bundle at ``path`` and the policy; raises BundleError or PolicyError.

    A few tickets are scored before the scorer is handed out, so the compiled kernels and the
    language model are loaded before the first request rather than during it.
    """
    model = load_bundle(path)
    policy = load_policy(settings.policy_path)
    scorer = Scorer.build(model=model, policy=policy, min_confidence=settings.language_min_confidence)
    for ticket in WARM_UP_TICKETS:
        score_ticket(scorer=scorer, ticket=ticket)
    return scorer


def publish(app: FastAPI, scorer: Scorer) -> None:
    """Serve ``scorer`` from now on: one assignment, read afresh by every request."""
    app.state.scorer = scorer
    publish_model(scorer.model.name, scorer.model.version, scorer.policy.version)


def settle_scorer(app: FastAPI) -> None:
    """Take a staged scorer whose time has come (if no request took it first) and publish it."""
    staged = app.state.next_scorer
    if staged is not None and time.time() >= staged[1]:
        app.state.scorer, app.state.next_scorer = staged[0], None
    publish(app, app.state.scorer)


def serving_scorer(app: FastAPI) -> Scorer | None:
    """The scorer a request would get now (a staged champion once its moment has come)."""
    staged = app.state.next_scorer
    if staged is not None and time.time() >= staged[1]:
        return staged[0]  # type: ignore[no-any-return]
    return app.state.scorer  # type: ignore[no-any-return]


def measure_drift(app: FastAPI, store: TicketStore) -> DriftReport:
    """The drift report for the serving model over the configured window."""
    with store.sessions() as session:
        return drift_report(
            session=session, metadata=app.state.scorer.model.metadata, limits=drift_limits(app.state.settings)
        )


def open_store(settings: Settings) -> TicketStore:
    """Connect, migrate when configured to, and start the writer thread."""
    url = database_url(settings.database_url, settings.data_dir)
    engine = make_engine(url)
    if settings.migrate_on_start:
        upgrade(engine, url)
    store = TicketStore(session_factory(engine))
    store.start()
    logger.info("storage ready", dialect=engine.dialect.name)
    return store


async def purge_periodically(store: TicketStore, settings: Settings, stop: asyncio.Event) -> None:
    """Apply the text retention now and then every ``purge_interval_seconds`` (in the thread pool)."""

    def purge() -> None:
        with store.sessions() as session:
            done = purge_expired(session=session, retention_days=settings.text_retention_days)
            purge_sessions(session=session)
        if done.tickets or done.idempotency_records:
            logger.info(
                "retention applied", tickets=done.tickets, idempotency_records=done.idempotency_records
            )

    while not stop.is_set():
        try:
            await run_in_threadpool(purge)
        except Exception as exc:  # a failed purge is retried at the next interval, never fatal
            logger.error("retention failed", error_type=type(exc).__name__)
        await pause(stop, settings.purge_interval_seconds)


def start_background(
    app: FastAPI,
    store: TicketStore,
    settings: Settings,
    stop: asyncio.Event,
    *,
    shadow: ShadowRecorder | None,
    serving_id: int,
    cache_dir: Path,
) -> list[asyncio.Task[None]]:
    """The loops a worker runs beside requests: retention, drift, the webhook inbox and the
    write-back when integrations are configured and, when it follows the registry, the champion
    and the shadow."""
    loops = [
        purge_periodically(store, settings, stop),
        watch_drift(
            measure=lambda: measure_drift(app, store),
            every_seconds=settings.drift_interval_seconds,
            log=logger,
            stop=stop,
        ),
    ]
    if settings.integrations:
        processor = InboxProcessor(
            sessions=store.sessions,
            settings=settings,
            scorer=lambda: serving_scorer(app),
            log=logger,
            answered=shadow.enqueue if shadow is not None else None,
        )
        loops.append(
            process_inbox(
                processor=processor, poll_seconds=settings.inbox_poll_seconds, stop=stop, log=logger
            )
        )
        if any(integration.url is not None for integration in settings.integrations.values()):
            sender = DeliverySender(sessions=store.sessions, settings=settings, log=logger)
            loops.append(
                send_deliveries(
                    sender=sender, poll_seconds=settings.delivery_poll_seconds, stop=stop, log=logger
                )
            )
    if shadow is not None:
        shadow.start()
        loops.append(
            follow_champion(
                store=store,
                name=settings.model_name,
                serving_id=serving_id,
                poll_seconds=settings.model_poll_seconds,
                cache_dir=cache_dir,
                build=lambda folder: build_scorer(folder, settings),
                stage=lambda new, at: setattr(app.state, "next_scorer", (new, at)),
                settle=lambda: settle_scorer(app),
                log=logger,
                stop=stop,
            )
        )
        loops.append(
            follow_shadow(
                recorder=shadow,
                name=settings.model_name,
                poll_seconds=settings.model_poll_seconds,
                cache_dir=cache_dir,
                build=lambda folder: build_scorer(folder, settings),
                stop=stop,
            )
        )
    return [asyncio.create_task(loop) for loop in loops]


def _openapi_with_keys(app: FastAPI) -> dict[str, Any]:
    """The schema, saying that requests carry an API key (checked when ``TRIAGE_AUTH=required``).

    Keys are read in one plain dependency rather than FastAPI's security classes, which would
    cost the scoring path two more dependencies per request; the schema says it here instead.
    """
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        schema.setdefault("components", {})["securitySchemes"] = {
            "apiKey": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key: `triage keys create --role ROLE --name NAME`.",
            }
        }
        schema["security"] = [{"apiKey": []}]
        # Open in every mode; webhooks are authenticated by their signatures instead.
        for path in ("/healthz", "/readyz", "/metrics", WEBHOOK_PATH):
            for operation in schema["paths"].get(path, {}).values():
                operation["security"] = []
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.auth == "required" and not settings.storage:
            logger.error(
                "refusing to start",
                reason="TRIAGE_AUTH=required needs storage: the keys live in the database",
            )
            raise RuntimeError("TRIAGE_AUTH=required needs TRIAGE_STORAGE=true")
        store = open_store(settings) if settings.storage else None
        # With storage, the registry's champion serves (and is followed); pinning a version or
        # running without storage serves the bundle on disk.
        follow = store is not None and settings.model_version is None
        cache_dir = settings.data_dir / "model-cache"
        serving_id = 0
        try:
            path = resolve_bundle_dir(settings.models_dir, settings.model_name, settings.model_version)
            if store is not None and follow:
                path, serving_id = champion_bundle(
                    store=store, name=settings.model_name, configured=path, cache_dir=cache_dir
                )
            scorer = build_scorer(path, settings)
        except Exception as exc:
            logger.error("refusing to start", reason=str(exc))
            if store is not None:
                store.stop()
                store.sessions.kw["bind"].dispose()
            raise
        publish(app, scorer)
        logger.info(
            "model loaded",
            model=scorer.model.name,
            version=scorer.model.version,
            policy=scorer.policy.version,
            follows_registry=follow,
        )
        app.state.store = store
        if store is not None:
            app.state.inbox = InboxWriter(store.sessions)
            app.state.inbox.start()
        if store is None:
            logger.warning("storage is off: scored tickets are not kept (TRIAGE_STORAGE=false)")
        if settings.auth == "required" and store is not None:
            app.state.keys = KeyChecker(store.sessions)
            app.state.rate_limits = rate_limits(settings)
        else:
            app.state.keys = None
            logger.warning(
                "open mode: no API keys are checked; anyone who can reach the service can use it (TRIAGE_AUTH=open)"
            )
        stop = asyncio.Event()
        shadow = ShadowRecorder(store.sessions, logger) if store is not None and follow else None
        app.state.shadow = shadow
        tasks = (
            start_background(
                app, store, settings, stop, shadow=shadow, serving_id=serving_id, cache_dir=cache_dir
            )
            if store is not None
            else []
        )
        try:
            with frozen_heap():
                yield
        finally:
            # The loops stop at their next pause and finish any database read under way first:
            # cancelling one mid-read would leave its thread holding a connection of an engine
            # that is about to be disposed.
            stop.set()
            try:
                await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=60)
            except TimeoutError:
                logger.error("background work did not stop within 60 s")
            if app.state.rate_limits is not None:
                await app.state.rate_limits.aclose()
            if shadow is not None:
                shadow.stop()
            if app.state.inbox is not None:
                app.state.inbox.stop()
                app.state.inbox = None
            app.state.scorer = None
            if store is not None:
                store.stop()
                store.sessions.kw["bind"].dispose()

    app = FastAPI(
        title="ticket-triage",
        version="0.1.0",
        summary="Routes the emotional, complex or nuanced support tickets to human agents, with reasons.",
        lifespan=lifespan,
        docs_url=None,  # served from the package instead: see service.ops.docs
        redoc_url=None,
    )
    app.state.scorer = None
    app.state.next_scorer = None  # (scorer, unix time): the champion to switch to, loaded in full
    app.state.shadow = None
    app.state.store = None
    app.state.inbox = None  # the webhook inbox's writer thread, with storage
    app.state.keys = None
    app.state.rate_limits = None
    app.state.settings = settings
    app.openapi = lambda: _openapi_with_keys(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    install_page_handlers(app)
    app.include_router(scoring_router)
    app.include_router(tickets_router)
    app.include_router(queue_router)
    app.include_router(models_router)
    app.include_router(dashboard_router)
    app.include_router(integrations_router)
    app.include_router(ops_router)
    app.include_router(pages_router)
    app.include_router(ops_page_router)
    app.include_router(dashboard_page_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    install_docs(app)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    return app
