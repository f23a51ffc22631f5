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
    env: dict[str, str | None], tmp: Path, port: int | None = None, workers: int = 1
) -> tuple[subprocess.Popen, str, Path]:
    """`funnelcast serve` on `port` (default: a free one) with this environment (a None value removes
    the variable) and this many worker processes."""
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
        [str(BIN / "funnelcast"), "serve", "--port", str(port), "--workers", str(workers)],
        cwd=tmp,  # the default home (book.db, models/) is the working directory: never the checkout
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


def wait_ready(url: str, timeout: float = 90, workers: int = 1) -> None:
    """Until /readyz answers 200; with several workers, 10 times in a row per worker (each check is a
    new connection, taken by whichever worker accepts it), so none is still loading its models."""
    deadline, ready = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        ready = ready + 1 if httpx.get(f"{url}/readyz", timeout=5).status_code == 200 else 0
        if ready >= (1 if workers == 1 else 10 * workers):
            return
        time.sleep(0.05 if ready else 0.3)
    raise TimeoutError("not ready")


def postgres_bindir() -> Path | None:
    """Where initdb and pg_ctl are (Debian keeps them off the PATH), or None."""
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and (Path(out.stdout.strip()) / "initdb").is_file():
            return Path(out.stdout.strip())
    except OSError:
        pass
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


class Postgres:
    """A throwaway PostgreSQL server on 127.0.0.1 in a temporary directory. PostgreSQL refuses to run
    as root: as root it runs as the `postgres` account (runuser); otherwise as the current user."""

    def __init__(self):
        import tempfile

        self.bindir = postgres_bindir()
        # its own directory right under the system temp dir: the postgres account must reach it, and
        # pytest's temporary directories are private to the user running the tests
        self.root, self.port = Path(tempfile.mkdtemp(prefix="funnelcast-pg-")), free_port()
        self.data = self.root / "data"
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> str:
        if self.as_user:
            import shutil

            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "start",
        )
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        import shutil

        subprocess.run(
            [*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def postgres_missing() -> str | None:
    """Why PostgreSQL tests cannot run here (one line), or None."""
    if postgres_bindir() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) are not installed (Debian: postgresql-15)"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres account to run the server as"
    return None


def book_env(store: dict, book_url: str) -> dict:
    """A server on the book at `book_url` with the store's registered models, no clock passes and no
    workspace analytics in the background."""
    return {
        "MLFLOW_TRACKING_URI": store["uri"],
        "FUNNELCAST_MODEL_SOURCE": "registry",
        "FUNNELCAST_API_KEYS": SCORING_KEY,
        "FUNNELCAST_ADMIN_KEYS": ADMIN_KEY,
        "FUNNELCAST_DATABASE_URL": book_url,
        "FUNNELCAST_RESCORE_MINUTES": "0",
        "FUNNELCAST_ANALYTICS_REFRESH_MINUTES": "0",
        "FUNNELCAST_MAX_RECORDS": "1000",
    }
