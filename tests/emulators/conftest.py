"""Fixtures for the emulator tests (until the root conftest lists ``tests.fixtures.hexabase``)."""

from tests.fixtures.hexabase import (  # noqa: F401  (pytest finds fixtures by name)
    hexabase_schema,
    hexabase_server,
    hexabase_server_with_schema,
)
