"""What the tests' throwaway servers share: Debian packages installed on demand, a free
port, and stopping."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from typing import Any

import pytest


def apt_install(package: str, needed_for: str) -> None:
    """Install a Debian package with apt-get (sudo when not root); skip the test on a machine
    without apt-get."""
    if shutil.which("apt-get") is None:
        pytest.skip(f"{needed_for} need {package}: install it (apt-get install {package}); "
                    f"this machine has neither it nor apt-get")
    root = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*root, "apt-get", "update", "-q"], check=True, env=env, timeout=600)
    subprocess.run([*root, "apt-get", "install", "-y", "-q", "--no-install-recommends",
                    package], check=True, env=env, timeout=1200)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen[Any]) -> None:
    """Ask a server process to stop; kill it if it has not within 20 s."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
