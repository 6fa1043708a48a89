"""Export a notebook's workflows and steps, with what they use, as a module a worker can import.

``pw.export(path, *workflows)`` (and ``%wf export PATH.py [WORKFLOW ...]``) starts from the
workflows asked for (by default every workflow defined in the notebook) and follows the
global names their code reads: steps and child workflows, helper functions and classes
defined in the notebook, modules and names imported from them, and literal constants. Each
definition is written from its recorded source, so the module's code hashes equal the
notebook's and runs started in the notebook resume from the module without a divergence.
Schedules of the exported workflows that the store holds but no decorator declares (made by
``pw.schedule(wf, ...)`` calls) are written as ``pyworkflow_nb.schedule`` calls, applied
when the importing process starts its engine. What cannot be written (a global holding a
connection, a DataFrame, ...) is listed, at the top of the module and in the returned
:class:`ExportReport`.
"""

from __future__ import annotations

import ast
import builtins
import dis
import importlib
import inspect
import os
import textwrap
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .definitions import Definition, Workflow, registry
from .durations import iso_utc, parse_instant
from .errors import InvalidInput
from .runtime import runtime
from .schedules import list_schedules

__all__ = ["ExportReport", "export"]

NOTEBOOK = "__main__"  # the module name of code run in a notebook kernel (or a script)


@dataclass(repr=False)
class ExportReport:
    """What :func:`export` wrote: the module's path, the definitions in it (in order), what
    it could not resolve, and whether the file changed."""

    path: Path
    definitions: list[str]
    unresolved: list[str]
    changed: bool

    def __str__(self) -> str:
        done = "wrote" if self.changed else "unchanged:"
        lines = [f"{done} {self.path} ({len(self.definitions)} definitions: "
                 f"{', '.join(self.definitions)})"]
        if self.unresolved:
            lines.append("could not export (listed at the top of the module):")
            lines += [f"  - {item}" for item in self.unresolved]
        return "\n".join(lines)

    __repr__ = __str__


def export(path: str | os.PathLike[str], *workflows: Workflow | str,
           namespace: dict[str, Any] | None = None) -> ExportReport:
    """Write the workflows (default: every workflow the notebook defined) and everything their
    code uses to the Python module at ``path``; running it again rewrites it only if it
    changed."""
    target = Path(os.fspath(path))
    if target.suffix != ".py":
        raise InvalidInput(f"export needs a .py path for the module, got {str(target)!r}")
    chosen = _chosen(workflows)
    module = _Module(namespace)
    for wf in chosen:
        module.add_definition(wf, wf.name, used_by="the export")
    if runtime.engine is not None:  # (a pw.schedule call on a workflow starts the engine)
        for schedule in list_schedules():
            module.add_schedule(schedule.describe(upcoming=0))
    text = module.text()
    changed = not target.exists() or target.read_text(encoding="utf-8") != text
    if changed:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return ExportReport(target, module.definitions, module.unresolved, changed)


def _chosen(workflows: tuple[Workflow | str, ...]) -> list[Workflow]:
    if not workflows:
        found = [wf for wf in registry.workflows.values() if wf.module == NOTEBOOK]
        if not found:
            raise InvalidInput("export: this notebook defines no workflow yet; define one "
                               "(@pw.workflow or %%workflow) or name what to export")
        return found
    chosen = []
    for item in workflows:
        wf = registry.workflow(item) if isinstance(item, str) else item
        if not isinstance(wf, Workflow):
            known = ", ".join(sorted(registry.workflows)) or "none"
            raise InvalidInput(f"export: no workflow named {item!r} (defined: {known})")
        chosen.append(wf)
    return chosen


@dataclass
class _Module:
    """The module being built: imports, constants and code blocks, dependencies first."""

    namespace: dict[str, Any] | None
    imports: set[str] = field(default_factory=set)
    blocks: list[str] = field(default_factory=list)
    definitions: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    def text(self) -> str:
        head = ['"""Workflows exported from a notebook by pyworkflow_nb.', "",
                "Export again (%wf export / pw.export) after changing the notebook: this file "
                "is rewritten.", '"""']
        if self.unresolved:
            head += ["", "# Could not export these; define or import them here by hand:"]
            head += [f"#   - {item}" for item in self.unresolved]
        imports = sorted(self.imports, key=lambda line: (line.startswith("from "), line))
        parts = ["\n".join(head), "\n".join(imports), *self.blocks]
        return "\n\n\n".join(p for p in parts if p) + "\n"

    # -- what a name is bound to -------------------------------------------------------------

    def add_name(self, name: str, globals_: dict[str, Any], used_by: str) -> None:
        if name in self._seen:
            return
        if name not in globals_:
            if not hasattr(builtins, name):
                self._unresolved(name, used_by, "not defined in the notebook")
            return
        self._seen.add(name)
        value = globals_[name]
        if isinstance(value, Definition) and value.module == NOTEBOOK:
            self.add_definition(value, name, used_by)
        elif isinstance(value, types.ModuleType):
            self.imports.add(_import_module(name, value.__name__))
        elif _is_literal(value):
            self.blocks.append(f"{name} = {value!r}")
        elif isinstance(value, (types.FunctionType, type)) and value.__module__ == NOTEBOOK:
            self._add_source(name, value, used_by)
        elif hasattr(value, "__qualname__"):  # a function, class or definition from a module
            self._add_import(name, value, used_by)
        else:
            self._unresolved(name, used_by, f"a value of type {type(value).__name__}, not a "
                                            "module, function, class or literal")

    def add_definition(self, definition: Definition, name: str, used_by: str) -> None:
        self._seen.add(name)
        if definition.name in self.definitions:
            return
        fn, evaluated = definition.fn, definition.source
        if definition.source.startswith("%%workflow "):
            block = self._cell_workflow(definition, name)
            if not block:
                return
            evaluated = f"async def {definition.source.partition(chr(10))[0][11:]}: pass"
        elif definition.source.startswith("# no source available"):
            self._unresolved(name, used_by, "its source is not available")
            return
        elif definition.source[:1].isspace():
            self._unresolved(name, used_by, "defined inside a function or class; define it "
                                            "at the top level of a cell")
            return
        else:
            block = definition.source.rstrip("\n")
            top = ast.parse(block).body[0]
            if getattr(top, "name", None) != fn.__name__ or not getattr(top, "decorator_list",
                                                                         None):
                self._unresolved(name, used_by, "made by calling pw.step or pw.workflow on a "
                                                "function; decorate the function instead")
                return
        self.definitions.append(definition.name)  # before its dependencies: cycles end here
        for used in _names_used(fn, evaluated):
            self.add_name(used, fn.__globals__, name)
        self.blocks.append(block)

    def _add_import(self, name: str, value: Any, used_by: str) -> None:
        module, qualname = getattr(value, "__module__", None) or "", value.__qualname__
        try:
            found = getattr(importlib.import_module(module), qualname, None)
        except (ImportError, ValueError):
            found = None
        if found is not value:
            self._unresolved(name, used_by, f"cannot be imported as {module}.{qualname}")
            return
        alias = "" if qualname == name else f" as {name}"
        self.imports.add(f"from {module} import {qualname}{alias}")

    def _add_source(self, name: str, value: Any, used_by: str) -> None:
        try:
            source = textwrap.dedent(inspect.getsource(value)).rstrip("\n")
        except (OSError, TypeError):
            self._unresolved(name, used_by, "its source is not available (classes defined in "
                                            "a notebook cell have none on Python < 3.13)")
            return
        globals_ = getattr(value, "__globals__", None) or self.namespace or {}
        for used in _names_used(value, source):
            self.add_name(used, globals_, name)
        self.blocks.append(source)

    def _cell_workflow(self, definition: Definition, name: str) -> str:
        """A ``%%workflow`` cell as an ``async def`` carrying the cell's recorded source."""
        header, _, body = definition.source.partition("\n")
        signature = header.removeprefix("%%workflow ")
        self.imports.add("import pyworkflow_nb")
        source = "".join(f"\n    {line!r}" for line in definition.source.splitlines(True))
        text = (f"@pyworkflow_nb.workflow(name={definition.name!r}, source=({source}\n))\n"
                f"async def {signature}:\n{textwrap.indent(body.rstrip() or 'pass', '    ')}")
        defined = ast.parse(text).body[0]
        assert isinstance(defined, ast.AsyncFunctionDef)
        if ast.dump(ast.Module(body=defined.body, type_ignores=[])) != \
                ast.dump(ast.parse(body or "pass")):
            self._unresolved(name, "the export", "its cell has a multi-line string that "
                                                 "indenting would change")
            return ""
        return text

    def add_schedule(self, described: dict[str, Any]) -> None:
        """A ``pyworkflow_nb.schedule(...)`` call recreating a schedule (as ``describe()``
        gives it) of an exported workflow that no decorator in the module declares."""
        sid, workflow = described["schedule_id"], described["workflow"]
        if workflow not in self.definitions or sid in _declared_schedules(
                registry.workflows[workflow]):
            return
        if not (_is_literal(described["args"]) and _is_literal(described["kwargs"])):
            self._unresolved(f"schedule {sid!r}", workflow, "its arguments are not literals; "
                                                            "call pw.schedule in the module")
            return
        options: dict[str, Any] = {} if sid == workflow else {"schedule_id": sid}
        for key, default in _SCHEDULE_DEFAULTS.items():
            value = described[key]
            if key in ("start_at", "end_at") and value is not None:
                value = _instant(value)
            if value != default:
                options[key] = value
        if described["status"] == "paused":
            options["paused"] = True
        if described["note"]:
            options["note"] = described["note"]
        self.imports.add("import pyworkflow_nb")
        parts = [repr(workflow), *(f"{key}={value!r}" for key, value in options.items())]
        call = f"pyworkflow_nb.schedule({', '.join(parts)})"
        if len(call) > 99:
            call = "pyworkflow_nb.schedule(\n" + "".join(f"    {p},\n" for p in parts) + ")"
        self.blocks.append(call)

    def _unresolved(self, name: str, used_by: str, why: str) -> None:
        item = f"{name} (used by {used_by}): {why}"
        if item not in self.unresolved:
            self.unresolved.append(item)


#: ``pw.schedule`` settings written only when they differ from these defaults.
_SCHEDULE_DEFAULTS: dict[str, Any] = {
    "cron": None, "every": None, "args": [], "kwargs": {}, "timezone": "UTC",
    "overlap": "skip", "catchup": "latest", "jitter": 0.0, "start_at": None, "end_at": None}


def _declared_schedules(workflow: Workflow) -> set[str]:
    """The ids of the schedules the decorators in ``workflow``'s source declare."""
    if workflow.source.startswith(("%%workflow ", "# no source available")) or \
            workflow.source[:1].isspace():
        return set()
    declared = set()
    for decorator in getattr(ast.parse(workflow.source).body[0], "decorator_list", []):
        if not isinstance(decorator, ast.Call):
            continue
        called = decorator.func
        keywords = {k.arg: k.value for k in decorator.keywords}
        if getattr(called, "id", getattr(called, "attr", None)) == "schedule":
            sid = keywords.get("schedule_id")
            given = sid.value if isinstance(sid, ast.Constant) else None
            declared.add(given if isinstance(given, str) else workflow.name)
        elif "schedule" in keywords:  # @pw.workflow(schedule=...)
            declared.add(workflow.name)
    return declared


def _instant(epoch: float) -> str | float:
    """An instant as ISO text when that loses nothing, else as epoch seconds."""
    text = iso_utc(epoch)
    return text if parse_instant(text) == epoch else epoch


def _import_module(name: str, module: str) -> str:
    if module == name:
        return f"import {module}"
    return f"import {module} as {name}"


def _is_literal(value: Any) -> bool:
    try:
        return bool(ast.literal_eval(repr(value)) == value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


def _names_used(obj: Any, source: str) -> list[str]:
    """The global names the definition in ``source`` evaluates (decorators, defaults,
    annotations, base classes, a class body), then those ``obj``'s code reads when it runs
    (a class: its methods'), in a stable order."""
    top = ast.parse(source).body[0]
    evaluated: list[ast.AST] = [*getattr(top, "decorator_list", [])]
    if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef)):
        evaluated += [top.args, *([top.returns] if top.returns else [])]
    elif isinstance(top, ast.ClassDef):
        evaluated += [*top.bases, *top.keywords]
        evaluated += [n for n in top.body
                      if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    names = [node.id for part in evaluated for node in ast.walk(part)
             if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)]
    codes = [obj.__code__] if hasattr(obj, "__code__") else [
        v.__code__ for v in vars(obj).values() if hasattr(v, "__code__")]
    for code in codes:
        names += _global_loads(code)
    return list(dict.fromkeys(names))


def _global_loads(code: types.CodeType) -> list[str]:
    names = [ins.argval for ins in dis.get_instructions(code)
             if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME")]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names += _global_loads(const)
    return names
