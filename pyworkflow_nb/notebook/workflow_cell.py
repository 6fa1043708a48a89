"""``%%workflow``: parse the magic line and compile the cell body into an ``async def``.

The line is ``name(params) [--run ARGS] [--id RUN_ID] [--wait]``. The body keeps its cell
line numbers and is compiled under a file name IPython maps to the cell, so tracebacks
point at the notebook cell and line.
"""

from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import MagicArgumentParser

USAGE = ("%%workflow name(param, other=default) [--run ARGS] [--id RUN_ID] [--wait]\n"
         "  e.g. %%workflow pipeline(urls, limit=10) --run \"['a', 'b'], limit=2\" --wait")

_parser = MagicArgumentParser(prog="%%workflow", add_help=False)
_parser.add_argument("--run", nargs="?", const="", default=None, metavar="ARGS",
                     help="start a run with these Python call arguments (quote them)")
_parser.add_argument("--id", dest="run_id", default=None, metavar="RUN_ID",
                     help="run id: an existing run with this id is resumed, not restarted")
_parser.add_argument("--wait", action="store_true",
                     help="block the cell until the run finishes and show its result")


@dataclass(frozen=True)
class WorkflowCell:
    """What a ``%%workflow`` line asks for."""

    name: str
    params: str
    run_args: str | None
    run_id: str | None
    wait: bool

    @property
    def header(self) -> str:
        """The line without its flags, as recorded with the source."""
        return f"%%workflow {self.name}({self.params})"


_NAME = re.compile(r"\s*([A-Za-z_]\w*)\s*")


def _closing_paren(text: str) -> int:
    """Index of the ``)`` closing the ``(`` at ``text[0]``; -1 when unbalanced."""
    depth, quote = 0, ""
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _bad(what: str) -> UsageError:
    return UsageError(f"%%workflow: {what}\nusage: {USAGE}")


def parse_line(line: str) -> WorkflowCell:
    """Parse the ``%%workflow`` line; bad input raises ``UsageError`` with the usage."""
    match = _NAME.match(line)
    if match is None:
        raise _bad(f"expected a workflow name first, got {line.strip()!r}")
    name, rest, params = match.group(1), line[match.end():], ""
    if rest.startswith("("):
        end = _closing_paren(rest)
        if end < 0:
            raise _bad(f"unbalanced parentheses in {line.strip()!r}")
        params, rest = rest[1:end], rest[end + 1:]
    try:
        header = ast.parse(f"async def {name}({params}): pass").body[0]
    except SyntaxError:
        raise _bad(f"{name}({params}) is not a valid name(parameters) signature") from None
    try:
        opts = _parser.parse_args(shlex.split(rest))
    except ValueError as exc:
        raise _bad(f"{exc} in {rest.strip()!r}") from None
    except UsageError as exc:
        raise _bad(str(exc)) from None
    assert isinstance(header, ast.AsyncFunctionDef)
    return WorkflowCell(name, ast.unparse(header.args), opts.run, opts.run_id, opts.wait)


def compile_body(spec: WorkflowCell, body: str, filename: str) -> Any:
    """Code that defines ``async def name(params)`` whose body is the cell body.

    Body line ``n`` keeps line ``n + 1`` (the magic line is line 1 of the cell).
    """
    try:
        module = ast.parse(body or "pass", filename=filename)
    except SyntaxError as exc:
        exc.lineno = (exc.lineno or 0) + 1
        exc.filename = filename
        raise
    ast.increment_lineno(module, 1)
    header = ast.parse(f"async def {spec.name}({spec.params}): pass").body[0]
    assert isinstance(header, ast.AsyncFunctionDef)
    header.body = module.body or [ast.Pass()]
    ast.fix_missing_locations(header)
    return compile(ast.Module(body=[header], type_ignores=[]), filename, "exec")


def call_arguments(args: str, namespace: dict[str, Any]) -> tuple[tuple[Any, ...],
                                                                   dict[str, Any]]:
    """Evaluate ``--run`` arguments (Python call syntax) in the notebook's namespace."""
    try:
        tree = ast.parse(f"f({args})", mode="eval")
    except SyntaxError:
        raise UsageError(
            f"%%workflow --run {args!r}: not valid call arguments; write them as in a call, "
            "quoted, e.g. --run \"[1, 2], limit=3\"") from None
    call = tree.body
    assert isinstance(call, ast.Call)
    collect = ast.Lambda(
        args=ast.arguments(posonlyargs=[], args=[], vararg=ast.arg("a"), kwonlyargs=[],
                           kw_defaults=[], kwarg=ast.arg("k"), defaults=[]),
        body=ast.Tuple([ast.Name("a", ast.Load()), ast.Name("k", ast.Load())], ast.Load()))
    call.func = collect
    ast.fix_missing_locations(tree)
    try:
        result: tuple[tuple[Any, ...], dict[str, Any]] = eval(
            compile(tree, "<%%workflow --run>", "eval"), namespace)
    except Exception as exc:  # the user's expression: say which and why, no traceback
        raise UsageError(
            f"%%workflow --run {args!r}: evaluating the arguments failed with "
            f"{type(exc).__name__}: {exc}; define the names they use in a cell first") from None
    return result
