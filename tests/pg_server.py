"""A throwaway PostgreSQL server for the tests: Debian's binaries, on 127.0.0.1, in a temp dir.

The binaries are installed with apt-get when missing; a machine with neither them nor apt-get
skips the PostgreSQL tests. As root, the server runs as the ``postgres`` user (PostgreSQL
refuses to run as root). It runs with ``fsync=off``: the tests kill clients, never the server.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from servers import apt_install, free_port


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    apt_install("postgresql", "the PostgreSQL tests")
    return _bin_dir()


@contextmanager
def postgres() -> Iterator[str]:
    """A running server; yields the URL of its ``postgres`` database (user ``pw``)."""
    bin_dir = _bin_dir()
    as_root = os.geteuid() == 0
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    home = Path(tempfile.mkdtemp(prefix="pw-pg-"))
    if as_root:
        shutil.chown(home, "postgres")
    data, port = home / "data", free_port()
    subprocess.run([*run_as, str(bin_dir / "initdb"), "-D", str(data), "-U", "pw",
                    "--auth=trust", "-E", "UTF8", "--no-sync"],
                   check=True, capture_output=True, timeout=120)
    options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {home} -c fsync=off "
               "-c full_page_writes=off")
    subprocess.run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options,
                    "-l", str(home / "log"), "-w", "-t", "60", "start"],
                   check=True, capture_output=True, timeout=90)
    try:
        yield f"postgresql://pw@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(home, ignore_errors=True)


def fresh_database(server_url: str) -> str:
    """A new, empty database on the server; its URL."""
    import psycopg

    name = f"pw_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    return server_url.rsplit("/", 1)[0] + f"/{name}"
