"""Each notebook gets a store of its own, and a lock error names the notebook holding one."""

from __future__ import annotations

import os
from pathlib import Path

from jupyter_client.manager import start_new_kernel
from notebook_kernel import execute, kernel_name

__all__ = ["kernel_name"]


def _kernel_of(notebook: Path, kernel: str) -> tuple[object, object]:
    """A kernel started as jupyter-server starts one for ``notebook`` (JPY_SESSION_NAME)."""
    env = {k: v for k, v in os.environ.items() if k != "PYWORKFLOW_NB_STORE"}
    env["JPY_SESSION_NAME"] = str(notebook)
    return start_new_kernel(kernel_name=kernel, cwd=str(notebook.parent), env=env)


def test_two_notebooks_open_their_own_stores_and_a_third_kernel_learns_who_holds_one(
        tmp_path: Path, kernel_name: str) -> None:
    quick, recovery = tmp_path / "quickstart.ipynb", tmp_path / "recovery.ipynb"
    kernels = [_kernel_of(quick, kernel_name), _kernel_of(recovery, kernel_name)]
    try:
        for (_km, kc), name in zip(kernels, ("quickstart", "recovery"), strict=True):
            _, shown = execute(kc, "%load_ext pyworkflow_nb")
            assert f".pyworkflow_nb/{name}.duckdb" in shown, shown
        km3, kc3 = _kernel_of(quick, kernel_name)  # the same notebook opened twice
        kernels.append((km3, kc3))
        _, shown = execute(kc3, "%load_ext pyworkflow_nb", error_ok=True)
        assert f"held by the kernel of notebook {quick} (process " in shown, shown
        assert "read_only=True" in shown
        execute(kernels[0][1], "%unload_ext pyworkflow_nb")
        assert not (tmp_path / ".pyworkflow_nb" / "quickstart.duckdb.holder").exists(), (
            "a closed store leaves no holder record")
        _, shown = execute(kc3, "%load_ext pyworkflow_nb")
        assert ".pyworkflow_nb/quickstart.duckdb" in shown, "free again once closed"
    finally:
        for km, kc in kernels:
            kc.stop_channels()  # type: ignore[attr-defined]
            km.shutdown_kernel(now=True)  # type: ignore[attr-defined]
    assert sorted(p.name for p in (tmp_path / ".pyworkflow_nb").glob("*.duckdb")) == [
        "quickstart.duckdb", "recovery.duckdb"]
