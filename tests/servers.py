"""Helpers for tests that run real servers on loopback: free ports, waiting, stopping, child env."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(**extra: str) -> dict[str, str]:
    """Environment for child processes: the venv's tools (mlflow shells out to uvicorn) come first."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **extra}


def wait_http(url: str, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process group, SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=20)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


SCORING_KEY, ADMIN_KEY = "scoring-key-3f9a", "admin-key-77c1"


def auth(key: str = SCORING_KEY) -> dict:
    return {"X-API-Key": key}


def start_server(
    env: dict[str, str | None], tmp: Path, port: int | None = None
) -> tuple[subprocess.Popen, str, Path]:
    """`funnelcast serve` on `port` (default: a free one) with this environment (a None value removes
    the variable)."""
    port = port or free_port()
    log = tmp / f"server-{port}.log"
    # rate limits off unless a test sets them: load tests must not meet them by accident
    merged = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "FUNNELCAST_RATE_LIMIT_PER_SECOND": "0",
        **env,
    }
    proc = subprocess.Popen(
        [str(BIN / "funnelcast"), "serve", "--port", str(port)],
        env={k: v for k, v in merged.items() if v is not None},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(log.read_text())
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            return proc, url, log
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError(log.read_text())


def wait_ready(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
            return
        time.sleep(0.3)
    raise TimeoutError("not ready")
