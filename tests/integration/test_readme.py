"""Every Python block of README.md runs verbatim, top to bottom, in one fresh kernel."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import nbformat
from notebook_kernel import client, kernel_name, text

__all__ = ["kernel_name"]

README = Path(__file__).resolve().parents[2] / "README.md"
# a fenced block, possibly indented under a list item: its indent, info string and body
_FENCE = re.compile(r"^(?P<indent>[ ]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ ]*$",
                    re.MULTILINE | re.DOTALL)


def python_blocks(markdown: str) -> list[str]:
    """The README's ```python blocks, in order, dedented from their list item."""
    return [textwrap.dedent(m["body"]).rstrip() for m in _FENCE.finditer(markdown)
            if m["info"].strip() == "python"]


def test_the_block_reader_finds_indented_blocks_and_skips_other_languages() -> None:
    markdown = ("# t\n```bash\nls\n```\n- item\n\n  ```python\n  x = 1\n  if x:\n      y = 2\n"
                "  ```\n```\nplain\n```\n```python\nprint(x)\n```\n")
    assert python_blocks(markdown) == ["x = 1\nif x:\n    y = 2", "print(x)"]


def test_every_python_block_of_the_readme_runs_in_order(tmp_path: Path,
                                                        kernel_name: str) -> None:
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 12, "the README's Python blocks were not found"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(block) for block in blocks]
    client(nb, tmp_path, kernel_name).execute()  # raises on the first block that fails
    def shown(fragment: str) -> str:
        """What the first block holding ``fragment`` showed."""
        return next(text(cell) for block, cell in zip(blocks, nb.cells, strict=True)
                    if fragment in block)

    assert "501" in shown("print(handle.result())")
    assert "shipped 2 items ['apple', 'pear']" in shown("async def cart")
    assert shown("pw.Replayer([pipeline]).replay(handle)").startswith("True")
    assert "600" in shown("%%workflow squares")  # 10 * (0 + 10 + 20 + 30)
    assert "242.5\n[('eu', 162.0), ('us', 80.5)]" in shown("def load_sales")
    assert "[('eu', 162.0), ('us', 80.5)]" in shown("SELECT table_name FROM frames")
    assert "{'greeting': 'Hello, world!', 'length': 5}" in shown("class GreeterWorkflow:")
    assert "{'request': 'new laptop', 'approved': True, 'by': 'ana'}\napproved by ana" in \
        shown("class ApprovalWorkflow:")
    cloudflare = shown("class OrderWorkflow(WorkflowEntrypoint)")
    assert "{'invoice': 'ana owes 120', 'approved_by': 'bo'}\n{'status': 'complete'" in cloudflare
    jupysql = shown("%load_ext sql")
    assert "squares" in jupysql and "completed" in jupysql
    assert (tmp_path / ".pyworkflow_nb" / "store.duckdb").exists()
