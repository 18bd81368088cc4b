"""`syncer emulate ...`: serve local emulators of the targets' APIs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..errors import SyncError

if TYPE_CHECKING:
    from ..emulators.base import FaultConfig

emulate_app = typer.Typer(no_args_is_help=True,
                          help="Serve a local emulator of a target's API (try targets without an account).")

# the faults both emulators inject (see syncer.emulators.base.FaultConfig)
Rate429 = Annotated[float, typer.Option("--rate-429", help="Fraction of requests answered 429.")]
Rate500 = Annotated[float, typer.Option("--rate-500", help="Fraction of requests answered 500.")]
RateDrop = Annotated[float, typer.Option(
    "--rate-drop", help="Fraction of connections dropped without an answer.")]
RateTimeout = Annotated[float, typer.Option(
    "--rate-timeout", help="Fraction of requests whose answer is stalled past the client's "
                           "timeout (half of them take effect anyway).")]
StallMs = Annotated[int, typer.Option("--stall-ms", help="How long a stalled answer is held.")]
RateSlowQueue = Annotated[float, typer.Option(
    "--rate-slow-queue", help="Fraction of queued imports / import jobs that stay pending longer.")]
SlowQueueMs = Annotated[int, typer.Option(
    "--slow-queue-ms", help="Longest extra wait of a slow queued import or job.")]
LatencyMs = Annotated[int, typer.Option("--latency-ms", help="Delay added to every request.")]
Seed = Annotated[Optional[int], typer.Option("--seed", help="Seed of the fault generator.")]


def _faults(rate_429: float, rate_500: float, rate_drop: float, rate_timeout: float,
            stall_ms: int, rate_slow_queue: float, slow_queue_ms: int, latency_ms: int,
            seed: int | None) -> FaultConfig:
    from ..emulators.base import FaultConfig

    return FaultConfig(rate_429=rate_429, rate_500=rate_500, rate_drop=rate_drop,
                       rate_timeout=rate_timeout, stall_ms=stall_ms,
                       rate_slow_queue=rate_slow_queue, slow_queue_ms=slow_queue_ms,
                       latency_ms=latency_ms, seed=seed)


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
    rate_429: Rate429 = 0.0,
    rate_500: Rate500 = 0.0,
    rate_drop: RateDrop = 0.0,
    rate_timeout: RateTimeout = 0.0,
    stall_ms: StallMs = 2000,
    rate_slow_queue: RateSlowQueue = 0.0,
    slow_queue_ms: SlowQueueMs = 1000,
    latency_ms: LatencyMs = 0,
    seed: Seed = None,
) -> None:
    """Serve the Hexabase API emulator (ImportItems, queue, results, search, fields) until Ctrl-C."""
    from ..emulators.hexabase import serve

    try:
        faults = _faults(rate_429, rate_500, rate_drop, rate_timeout, stall_ms, rate_slow_queue,
                         slow_queue_ms, latency_ms, seed)
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
    cluster_id: Annotated[str, typer.Option(
        "--cluster-id", help="The one cluster id the import-job API knows (others are refused "
                             "as an unknown cluster).")] = "in01-emulator",
    rate_429: Rate429 = 0.0,
    rate_500: Rate500 = 0.0,
    rate_drop: RateDrop = 0.0,
    rate_timeout: RateTimeout = 0.0,
    stall_ms: StallMs = 2000,
    rate_slow_queue: RateSlowQueue = 0.0,
    slow_queue_ms: SlowQueueMs = 1000,
    latency_ms: LatencyMs = 0,
    seed: Seed = None,
) -> None:
    """Serve the Zilliz Cloud API emulator (import jobs, collections, entities, aliases) until Ctrl-C."""
    from ..emulators.zilliz import serve

    try:
        faults = _faults(rate_429, rate_500, rate_drop, rate_timeout, stall_ms, rate_slow_queue,
                         slow_queue_ms, latency_ms, seed)
        serve(host, port, s3_endpoint=s3_endpoint, data_dir=data, api_key=api_key,
              faults=faults, job_delay=job_delay, cluster_id=cluster_id)
    except (ValueError, OSError) as exc:
        raise SyncError(f"cannot start the emulator: {exc}") from None
