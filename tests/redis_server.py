"""A throwaway Redis server for the tests: Debian's ``redis-server``, on 127.0.0.1, in a temp
dir, with persistence off. Installed with apt-get when missing; a machine with neither it nor
apt-get skips the Redis tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from servers import apt_install, free_port, stop


def _binary() -> str:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)
    if found is None:
        apt_install("redis-server", "the Celery tests")
        return _binary()
    return found


@contextmanager
def redis() -> Iterator[str]:
    """A running server; yields its ``redis://`` URL."""
    home, port = Path(tempfile.mkdtemp(prefix="pw-redis-")), free_port()
    proc = subprocess.Popen(
        [_binary(), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(home),
         "--save", "", "--appendonly", "no", "--daemonize", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(proc)
        shutil.rmtree(home, ignore_errors=True)
