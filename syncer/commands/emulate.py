"""`syncer emulate ...`: serve local emulators of the targets' APIs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import SyncError

emulate_app = typer.Typer(no_args_is_help=True,
                          help="Serve a local emulator of a target's API (try targets without an account).")


@emulate_app.command("hexabase")
def emulate_hexabase(
    port: Annotated[int, typer.Option("--port", help="TCP port on 127.0.0.1 (0: any free port).")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    data: Annotated[Optional[Path], typer.Option(
        "--data", help="Directory for the emulator's SQLite data (default: a temporary one).")] = None,
    token: Annotated[Optional[str], typer.Option(
        "--token", help="The one bearer token accepted (login with any e-mail and it as password).")] = None,
    schema_file: Annotated[Optional[Path], typer.Option(
        "--schema", help="YAML/JSON declaring applications, datastores and fields.")] = None,
    queue_delay: Annotated[float, typer.Option(
        "--queue-delay", help="Seconds a queued import waits before it runs.")] = 0.2,
    rate_429: Annotated[float, typer.Option("--rate-429", help="Fraction of requests answered 429.")] = 0.0,
    rate_500: Annotated[float, typer.Option("--rate-500", help="Fraction of requests answered 500.")] = 0.0,
    rate_drop: Annotated[float, typer.Option(
        "--rate-drop", help="Fraction of connections dropped without an answer.")] = 0.0,
    latency_ms: Annotated[int, typer.Option("--latency-ms", help="Delay added to every request.")] = 0,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed of the fault generator.")] = None,
) -> None:
    """Serve the Hexabase API emulator (ImportItems, queue, results, search, fields) until Ctrl-C."""
    from ..emulators.base import FaultConfig
    from ..emulators.hexabase import serve

    try:
        faults = FaultConfig(rate_429=rate_429, rate_500=rate_500, rate_drop=rate_drop,
                             latency_ms=latency_ms, seed=seed)
        serve(host, port, data, token, schema_file, faults, queue_delay)
    except (ValueError, OSError) as exc:
        raise SyncError(f"cannot start the emulator: {exc}") from None



@emulate_app.command("zilliz")
def emulate_zilliz(
    s3_endpoint: Annotated[str, typer.Option(
        "--s3-endpoint", help="S3 endpoint the import jobs read their files from "
                              "(e.g. http://127.0.0.1:9000 for MinIO or moto).")],
    port: Annotated[int, typer.Option("--port", help="TCP port on 127.0.0.1 (0: any free port).")] = 8766,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    data: Annotated[Optional[Path], typer.Option(
        "--data", help="Directory for the emulator's SQLite data (default: a temporary one).")] = None,
    api_key: Annotated[Optional[str], typer.Option(
        "--api-key", help="The one API key accepted as `Authorization: Bearer KEY` "
                          "(default: zilliz-emulator-key).")] = None,
    job_delay: Annotated[float, typer.Option(
        "--job-delay", help="Seconds an import job takes from Pending to Completed.")] = 0.5,
    rate_429: Annotated[float, typer.Option("--rate-429", help="Fraction of requests answered 429.")] = 0.0,
    rate_500: Annotated[float, typer.Option("--rate-500", help="Fraction of requests answered 500.")] = 0.0,
    rate_drop: Annotated[float, typer.Option(
        "--rate-drop", help="Fraction of connections dropped without an answer.")] = 0.0,
    latency_ms: Annotated[int, typer.Option("--latency-ms", help="Delay added to every request.")] = 0,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed of the fault generator.")] = None,
) -> None:
    """Serve the Zilliz Cloud API emulator (import jobs, collections, entities, aliases) until Ctrl-C."""
    from ..emulators.base import FaultConfig
    from ..emulators.zilliz import serve

    try:
        faults = FaultConfig(rate_429=rate_429, rate_500=rate_500, rate_drop=rate_drop,
                             latency_ms=latency_ms, seed=seed)
        serve(host, port, s3_endpoint=s3_endpoint, data_dir=data, api_key=api_key,
              faults=faults, job_delay=job_delay)
    except (ValueError, OSError) as exc:
        raise SyncError(f"cannot start the emulator: {exc}") from None
