"""A real JupyterLab server and a real Chromium (Debian's binary, driven by Playwright)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from servers import apt_install, free_port, stop

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    """Debian's chromium binary, installed with apt-get when missing."""
    found = shutil.which("chromium")
    if found:
        return found
    apt_install("chromium", "the browser tests")
    found = shutil.which("chromium")
    assert found, "apt-get installed chromium but it is not on PATH"
    return found


class Lab:
    """A JupyterLab server on 127.0.0.1 serving ``root``, with a token."""

    def __init__(self, root: Path, settings: dict[str, dict[str, Any]] | None = None) -> None:
        self.root = root
        self.settings = settings or {}  # e.g. {"@jupyter-widgets/jupyterlab-manager/plugin": ...}
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.log = root.parent / "jupyterlab.log"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"

    @contextmanager
    def running(self) -> Iterator[Lab]:
        state = self.root.parent / "lab-state"
        quiet = state / "settings" / "@jupyterlab" / "apputils-extension"
        quiet.mkdir(parents=True, exist_ok=True)
        (quiet / "notification.jupyterlab-settings").write_text(
            '{"fetchNews": "false", "checkForUpdates": false}')
        for plugin, values in self.settings.items():
            path = state / "settings" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        args = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
                "--LabApp.expose_app_in_browser=True",
                f"--LabApp.user_settings_dir={state / 'settings'}",
                f"--LabApp.workspaces_dir={state / 'workspaces'}"]
        if os.geteuid() == 0:
            args.append("--allow-root")
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(state / "runtime")}
        with open(self.log, "wb") as log:
            proc = subprocess.Popen(args, cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                                    env=env)
        try:
            self._wait_ready(proc)
            yield self
        finally:
            stop(proc)

    def _wait_ready(self, proc: subprocess.Popen[Any]) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"JupyterLab exited:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"JupyterLab did not start:\n{self.log.read_text()[-3000:]}")
