"""The postgres target's manifest model: the URL shown without its password, the password
registered as a secret, names PostgreSQL cannot hold refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from syncer.secrets import redact
from syncer.targets.postgres.config import PostgresTarget, display_url, password_of


@pytest.mark.parametrize(("url", "shown", "password"), [
    ("postgresql://app:s3cret-pw@db:5432/shop", "postgresql://app@db:5432/shop", "s3cret-pw"),
    ("postgresql://app@db/shop?password=q-pass-9&sslmode=require",
     "postgresql://app@db/shop?sslmode=require", "q-pass-9"),
    ("postgres://[::1]:5433/x", "postgres://[::1]:5433/x", None),
    ("postgresql://u:p%40ss-word@h/d", "postgresql://u@h/d", "p@ss-word"),
])
def test_display_url_drops_the_password(url: str, shown: str, password: str | None) -> None:
    assert display_url(url) == shown
    assert password_of(url) == password


def test_the_model_registers_a_literal_password_and_never_shows_it() -> None:
    target = PostgresTarget.model_validate({"name": "db", "type": "postgres",
                                            "url": "postgresql://app:Lit3ral-pw@db/shop"})
    assert target.schema_ == "public"
    assert target.public_settings()["url"] == "postgresql://app@db/shop"
    assert redact("server said Lit3ral-pw") == "server said ***"


@pytest.mark.parametrize(("settings", "message"), [
    ({"url": "mysql://db/shop"}, "must be a postgresql:// URL"),
    ({"url": "postgresql://app:pw-hidden-1@db:port/x"}, "malformed url"),
    ({"url": "postgresql://db/x", "schema": 'a"b'}, "not a valid PostgreSQL name"),
])
def test_bad_settings_are_refused_without_the_password(settings: dict[str, str],
                                                        message: str) -> None:
    with pytest.raises(ValidationError) as error:
        PostgresTarget.model_validate({"name": "db", "type": "postgres", **settings})
    assert message in str(error.value)
    assert "pw-hidden-1" not in str(error.value).split("input_value")[0]
