"""The command line entry: serve the Hexabase emulator in the foreground (:func:`serve`)."""

from __future__ import annotations

from pathlib import Path

from ..base import FaultConfig, serve_forever
from .emulator import DEFAULT_TOKEN, HexabaseEmulator
from .schema import load_schema


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    data_dir: Path | None = None,
    token: str | None = None,
    schema_path: Path | None = None,
    faults: FaultConfig | None = None,
    queue_delay: float = 0.2,
    *,
    verbose: bool = False,
) -> None:
    """Serve the emulator in the foreground until SIGINT/SIGTERM (``syncer emulate hexabase``)."""
    schema = load_schema(schema_path) if schema_path is not None else None
    with HexabaseEmulator(
        data_dir, token or DEFAULT_TOKEN, schema, faults, queue_delay
    ) as emulator:

        def announce(url: str) -> None:
            print(f"Hexabase emulator listening on {url} (data: {emulator.data_dir})", flush=True)

        serve_forever(emulator, host, port, on_ready=announce, verbose=verbose)
