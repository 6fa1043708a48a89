"""Helpers for executing notebooks on a real ipykernel with nbclient."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
KERNEL = "python3"


@pytest.fixture(scope="session")
def kernel_name() -> str:
    """The ``python3`` kernel spec, installed for this Python when missing."""
    if KERNEL not in KernelSpecManager().find_kernel_specs():
        proc = subprocess.run([sys.executable, "-m", "ipykernel", "install", "--user",
                               "--name", KERNEL], capture_output=True, text=True)
        assert proc.returncode == 0, f"ipykernel install failed:\n{proc.stderr}{proc.stdout}"
    return KERNEL


def load(name: str) -> Any:
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def client(nb: Any, cwd: Path, kernel: str, **kwargs: Any) -> NotebookClient:
    """A client whose kernel runs in ``cwd`` (so the default store lands there)."""
    return NotebookClient(nb, timeout=60, kernel_name=kernel,
                          resources={"metadata": {"path": str(cwd)}}, **kwargs)


def text(cell: Any) -> str:
    """Every output of a cell as one string (streams, plain text and HTML)."""
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":  # a print may arrive in several stream messages
            parts.append(out["text"])
            continue
        if "data" in out:
            piece = "\n".join(str(out["data"].get(k, "")) for k in ("text/plain", "text/html"))
        elif out["output_type"] == "error":
            piece = "\n".join(out["traceback"])
        else:
            continue
        parts.append(piece if piece.endswith("\n") else piece + "\n")
    return "".join(parts)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def execute(kc: Any, code: str, *, error_ok: bool = False) -> tuple[int, str]:
    """Run ``code`` in a kernel client's kernel: the cell's number and all it showed (streams,
    results, tracebacks without colour). An error fails the test unless ``error_ok``."""
    shown: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        content = msg["content"]
        if msg["msg_type"] == "stream":
            shown.append(content["text"])
        elif msg["msg_type"] == "execute_result":
            shown.append(content["data"]["text/plain"])
        elif msg["msg_type"] == "error":
            if not error_ok:
                raise AssertionError("\n".join(content["traceback"]))
            shown.append(_ANSI.sub("", "\n".join(content["traceback"])))

    reply = kc.execute_interactive(code, timeout=30, output_hook=hook)
    if not error_ok:
        assert reply["content"]["status"] == "ok", reply["content"]
    return reply["content"]["execution_count"], "".join(shown)
