"""The command line entry: serve the Zilliz emulator in the foreground (:func:`serve`)."""

from __future__ import annotations

from pathlib import Path

from ..base import FaultConfig, serve_forever
from .emulator import DEFAULT_API_KEY, DEFAULT_CLUSTER_ID, ZillizEmulator


def serve(host: str = "127.0.0.1", port: int = 0, *, s3_endpoint: str,
          data_dir: Path | None = None, api_key: str | None = None,
          faults: FaultConfig | None = None, job_delay: float = 0.5,
          verbose: bool = False, cluster_id: str | None = DEFAULT_CLUSTER_ID) -> None:
    """Serve the emulator in the foreground until SIGINT/SIGTERM (``syncer emulate zilliz``)."""
    try:
        import boto3  # noqa: F401 - the job worker reads import files with it
    except ImportError:
        raise ValueError("the Zilliz emulator reads import files with boto3, which is not "
                         "installed: pip install 'syncer-data[zilliz]'") from None
    with ZillizEmulator(s3_endpoint, data_dir, api_key or DEFAULT_API_KEY, faults,
                        job_delay, cluster_id=cluster_id) as emulator:

        def announce(url: str) -> None:
            print(f"Zilliz Cloud emulator listening on {url} (control plane and cluster "
                  f"endpoint of cluster {cluster_id}; import files from {s3_endpoint}; data: "
                  f"{emulator.data_dir})", flush=True)

        serve_forever(emulator, host, port, on_ready=announce, verbose=verbose)
