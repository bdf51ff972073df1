"""The sync client over real HTTP, against the service under uvicorn with keys required."""

from __future__ import annotations

import pytest

from tests.client.conftest import FLAGGED, LiveService, free_port
from triage_client import (
    AuthenticationError,
    PermissionDeniedError,
    RetryPolicy,
    Ticket,
    TriageClient,
    TriageConnectionError,
)


def test_helpdesk_and_agent_keys_over_http(live_keys: LiveService) -> None:
    keys = live_keys.keys
    with TriageClient(live_keys.url, api_key=keys["helpdesk"]) as desk:
        scored = desk.score(Ticket(id="K-1", text=FLAGGED))
        assert scored.route == "human"
        assert desk.get_ticket("K-1").times_scored == 1
        assert desk.report_outcome("K-1", csat=5).csat == 5
        with pytest.raises(PermissionDeniedError) as forbidden:
            desk.list_queue()
        assert forbidden.value.code == "forbidden"

    with TriageClient(live_keys.url, api_key=keys["agent"]) as agent:
        (item,) = agent.iter_queue()
        # With keys the agent is the key's name; the body needs none.
        assert agent.claim(item.id).claimed_by == "agent-1"
        assert agent.give_feedback(item.id, flag_correct=True).flag_correct is True
        assert agent.resolve(item.id, "resolved").outcome == "resolved"

    with TriageClient(live_keys.url, api_key="tt_not-a-key") as stranger:
        assert stranger.healthz().status == "ok"  # open in every mode
        with pytest.raises(AuthenticationError) as refused:
            stranger.score(Ticket(text=FLAGGED))
        assert (refused.value.status_code, refused.value.code, refused.value.attempts) == (
            401,
            "unauthorized",
            1,
        )


def test_a_service_that_is_down_is_a_connection_error(live_open: LiveService) -> None:
    with TriageClient(live_open.url) as client:
        assert client.readyz().ready
    closed = f"http://127.0.0.1:{free_port()}"  # a port nothing listens on

    with (
        TriageClient(closed, retry=RetryPolicy(max_attempts=2, backoff_base=0)) as client,
        pytest.raises(TriageConnectionError) as caught,
    ):
        client.healthz()
    assert caught.value.attempts == 2
