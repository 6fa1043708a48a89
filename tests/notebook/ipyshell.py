"""Run cells in a real IPython shell and report their outcome."""

from __future__ import annotations

from typing import Any

from IPython.core.interactiveshell import InteractiveShell


class Shell:
    """Runs cells in a real ``InteractiveShell`` and reports their outcome."""

    def __init__(self, ip: InteractiveShell) -> None:
        self.ip = ip

    def run(self, cell: str) -> Any:
        """Run a cell that must succeed; returns its value."""
        result = self.ip.run_cell(cell)
        if not result.success:
            error = result.error_before_exec or result.error_in_exec
            raise AssertionError(f"cell failed: {error!r}")
        return result.result

    def fail(self, cell: str) -> BaseException:
        """Run a cell that must fail; returns its exception."""
        result = self.ip.run_cell(cell)
        error = result.error_before_exec or result.error_in_exec
        assert error is not None, f"cell did not fail: {cell}"
        return error

    @property
    def ns(self) -> dict[str, Any]:
        return self.ip.user_ns
