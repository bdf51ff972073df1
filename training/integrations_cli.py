"""``triage deliveries list|retry`` and ``triage inbox list|retry``: the helpdesk integrations.

``inbox retry`` puts the webhooks whose scoring failed back in the inbox, for the service's
workers to score again (scoring needs the serving model, which lives in the service).

``deliveries retry`` puts the dead letters back to pending with fresh attempts and sends them from here,
with the service's own sender (retries, backoff, ``Retry-After`` and breaker included), until
each is delivered or dead again, or ``--wait`` runs out; whatever is still retrying then is
left to the service's workers. Claims are leases, so this and a running service never send
the same delivery at once.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer

from service.config import get_settings
from training.storage_cli import _fail, _sessions

deliveries_app = typer.Typer(
    help="Route decisions written back to the helpdesks: list, retry.", no_args_is_help=True
)


class DeliveryStatus(StrEnum):
    pending = "pending"
    retrying = "retrying"
    delivered = "delivered"
    dead = "dead"


class _EchoLog:
    """The sender's log lines on standard error, as ``event key=value``."""

    def _echo(self, event: str, **fields: Any) -> None:
        typer.echo(" ".join([event, *(f"{k}={v}" for k, v in fields.items())]), err=True)

    info = warning = error = _echo


@deliveries_app.command("list")
def deliveries_list(
    status: Annotated[DeliveryStatus | None, typer.Option(help="Only this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many, newest first.")] = 100,
) -> None:
    """Integration, ticket, status, attempts, last HTTP status and error, last change."""
    from service.integrations.repository import list_deliveries

    with _sessions()() as session:
        rows = list_deliveries(session, status=status.value if status else None, limit=limit)
    for d in rows:
        typer.echo(
            f"{d.id}\t{d.integration}\t{d.external_id}\t{d.status}\t{d.decision.get('route')}/"
            f"{d.decision.get('priority')}\tattempts {d.attempts}\tlast {d.last_status or '-'}\t"
            f"{d.last_error or '-'}\t{d.updated_at:%Y-%m-%d %H:%M:%S}"
        )
    typer.echo(f"{len(rows)} deliver{'y' if len(rows) == 1 else 'ies'}", err=True)


@deliveries_app.command("retry")
def deliveries_retry(
    integration: Annotated[str | None, typer.Option(help="Only this integration's dead letters.")] = None,
    wait: Annotated[
        float,
        typer.Option(min=0, help="Seconds to keep retrying here before leaving the rest to the service."),
    ] = 60.0,
) -> None:
    """Send the dead letters again; prints how many were delivered, died again or are still retrying."""
    from service.integrations.repository import list_deliveries, requeue_dead
    from service.integrations.writeback import DeliverySender
    from service.storage.database import aware

    settings = get_settings()
    if integration is not None and integration not in settings.integrations:
        raise _fail(f"no integration named {integration!r} in TRIAGE_INTEGRATIONS")
    sessions = _sessions()
    with sessions() as session:
        ids = requeue_dead(session, now=datetime.now(UTC), integration=integration)
        session.commit()
    if not ids:
        typer.echo("no dead letters")
        return
    sender = DeliverySender(sessions=sessions, settings=settings, log=_EchoLog())
    deadline = time.monotonic() + wait
    try:
        while True:
            sender.run_once()
            with sessions() as session:
                rows = list_deliveries(session, ids=ids, limit=len(ids))
            waiting = [d for d in rows if d.status in ("pending", "retrying")]
            left = deadline - time.monotonic()
            if not waiting or left <= 0:
                break
            soonest = min(aware(d.next_attempt_at) or datetime.now(UTC) for d in waiting)
            time.sleep(min(max((soonest - datetime.now(UTC)).total_seconds(), 0.05), left))
    finally:
        sender.close()
    counts = {s: sum(d.status == s for d in rows) for s in ("delivered", "dead", "pending", "retrying")}
    typer.echo(
        f"re-sent {len(ids)} dead letter(s): {counts['delivered']} delivered, {counts['dead']} dead again, "
        f"{counts['pending'] + counts['retrying']} still retrying (the service's workers carry on with them)"
    )
    if counts["dead"]:
        raise typer.Exit(1)


inbox_app = typer.Typer(help="Webhooks received: list, retry the failed ones.", no_args_is_help=True)


class InboxStatus(StrEnum):
    pending = "pending"
    processing = "processing"
    done = "done"
    failed = "failed"


@inbox_app.command("list")
def inbox_list(
    status: Annotated[InboxStatus | None, typer.Option(help="Only this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many, newest first.")] = 100,
) -> None:
    """Source, delivery id, ticket, event, status, attempts, last error, received."""
    from service.integrations.repository import inbox_rows

    with _sessions()() as session:
        rows = inbox_rows(session, status=status.value if status else None, limit=limit)
    for r in rows:
        typer.echo(
            f"{r.id}\t{r.source}\t{r.delivery_id}\t{r.external_id}\t{r.event}\t{r.status}\t"
            f"attempts {r.attempts}\t{r.last_error or '-'}\t{r.received_at:%Y-%m-%d %H:%M:%S}"
        )
    typer.echo(f"{len(rows)} row(s)", err=True)


@inbox_app.command("retry")
def inbox_retry(source: Annotated[str | None, typer.Option(help="Only this source's rows.")] = None) -> None:
    """Put the failed webhooks back for the service to score again (fresh attempts)."""
    from service.integrations.repository import requeue_failed

    with _sessions()() as session:
        count = requeue_failed(session, now=datetime.now(UTC), source=source)
        session.commit()
    typer.echo(f"{count} failed webhook(s) back in the inbox; the service's workers score them next")
