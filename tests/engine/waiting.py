"""Waiting, in tests, for a run that another thread drives to reach a status."""

from __future__ import annotations

import time

from pyworkflow_nb.client import BaseRunHandle


def wait_status(handle: BaseRunHandle, status: str, timeout: float = 5) -> None:
    """Poll ``handle`` until its status is ``status``; fail after ``timeout`` seconds."""
    deadline = time.time() + timeout
    while handle.status() != status:
        assert time.time() < deadline, f"status stayed {handle.status()}, wanted {status}"
        time.sleep(0.002)
