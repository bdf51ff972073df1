"""TRIAGE_INTEGRATIONS: JSON from the environment, providers settled, bad entries refused at start."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from service.config import Settings


def test_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    config = {
        "zendesk": {"secret": "s3cret", "url": "https://acme.zendesk.com", "token": "t", "auth": "basic"},
        "shop": {"provider": "generic", "secret": "whsec_c2hvcCBrZXk="},
    }
    monkeypatch.setenv("TRIAGE_INTEGRATIONS", json.dumps(config))
    settings = Settings()
    assert settings.integrations["zendesk"].provider == "zendesk"
    assert settings.integrations["shop"].provider == "generic" and settings.integrations["shop"].url is None
    assert "s3cret" not in repr(settings)  # secrets are SecretStr


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ({"helpscout": {"secret": "x"}}, "set its provider"),
        ({"shop": {"provider": "generic", "secret": "plain"}}, "whsec_"),
        ({"zendesk": {"secret": ""}}, "at least 1"),
        ({"zendesk": {"secret": "x", "colour": "red"}}, "Extra inputs"),
        ({"Zen Desk": {"provider": "zendesk", "secret": "x"}}, "pattern"),
        ({"zendesk": {"secret": "x", "url": "not a url"}}, "URL"),
    ],
)
def test_bad_entries_are_refused(config: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        Settings(integrations=config)
