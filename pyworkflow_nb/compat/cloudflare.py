"""Cloudflare Python Workflows, run locally on this engine.

``install()`` makes ``from workers import WorkflowEntrypoint`` and ``from workers.workflows
import NonRetryableError`` resolve here, so code written for Cloudflare runs unchanged. Each
``WorkflowEntrypoint`` subclass is a workflow of this engine named after the class: its
``step.do`` steps, ``step.sleep`` timers and ``step.wait_for_event`` waits are the engine's
own commands under the names the code gives them, so recovery, replay, the timeline, SQL and
the virtual clock apply as to any run. ``Env(MY_WORKFLOW=MyWorkflow)`` stands in for the
binding ``env.MY_WORKFLOW``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
import logging
import sys
import types
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, ClassVar

from .. import client
from ..context import current_step, require_run, step_attempt
from ..definitions import RetryPolicy, Step, Workflow, check_name, source_of, workflow
from ..durations import format_duration, parse_duration, parse_instant
from ..errors import (
    DefinitionError,
    FatalError,
    InvalidInput,
    PyWorkflowError,
    RunNotFound,
    SerializationError,
)
from ..runtime import runtime
from ..serde import encode

__all__ = ["Env", "NonRetryableError", "Response", "WorkerEntrypoint", "WorkflowEntrypoint",
           "WorkflowInstance", "WorkflowStep", "install"]

DEFAULT_CONFIG: dict[str, Any] = {
    "retries": {"limit": 5, "delay": 10_000, "backoff": "exponential"},
    "timeout": "10 minutes",
}
"""Cloudflare's defaults for a step's ``config`` (delays in milliseconds)."""

_BACKOFFS = ("constant", "linear", "exponential")
MAX_STEP_RESULT = 2 ** 20
"""Bytes: Cloudflare refuses a (non-stream) step result or an event payload over 1 MiB."""
MAX_SLEEP = 365 * 86400
"""Seconds: Cloudflare's longest ``step.sleep``."""

_log = logging.getLogger("pyworkflow_nb.cloudflare")


def _check_size(value: Any, what: str) -> None:
    """Warn when ``value`` would be over Cloudflare's 1 MiB limit (measured as stored here)."""
    try:
        size = len(encode(value, where=what).encode())
    except SerializationError:
        return  # the engine names it when it stores it
    if size > MAX_STEP_RESULT:
        _log.warning("%s is %d bytes as stored here: on Cloudflare it would be refused (the "
                     "limit is 1 MiB, %d bytes)", what, size, MAX_STEP_RESULT)


class NonRetryableError(FatalError):
    """Raised in a step, fails it at once: no further attempts (``workers.workflows``)."""


# -- step configuration ------------------------------------------------------------------------

def _milliseconds(value: Any, key: str, where: str) -> float:
    """A WorkflowDuration (``"10 seconds"``) or a number of milliseconds, in seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise DefinitionError(f"{where}: config {key} must be a duration string such as "
                              f"'10 seconds' or a number of milliseconds, got {value!r}")
    try:
        return parse_duration(value, what=f"{where} config {key}") if isinstance(
            value, str) else parse_duration(value / 1000, what=f"{where} config {key}")
    except InvalidInput as exc:
        raise DefinitionError(str(exc)) from None


def resolve_config(config: Any, where: str) -> tuple[dict[str, Any], RetryPolicy, float]:
    """A ``WorkflowStepConfig`` dict with Cloudflare's defaults filled in, as the retry
    policy and timeout (seconds) of this engine; a malformed one names the key."""
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise DefinitionError(f"{where}: config must be a dict like {{'retries': {{'limit': 1, "
                              f"'delay': '10 seconds'}}}}, got {config!r}")
    unknown = sorted(set(config) - {"retries", "timeout"})
    if unknown:
        raise DefinitionError(f"{where}: config has unknown key(s) {', '.join(unknown)}; it "
                              "takes retries and timeout")
    retries = config.get("retries", {})
    if not isinstance(retries, dict):
        raise DefinitionError(f"{where}: config retries must be a dict of limit, delay and "
                              f"backoff, got {retries!r}")
    unknown = sorted(set(retries) - {"limit", "delay", "backoff"})
    if unknown:
        raise DefinitionError(f"{where}: config retries has unknown key(s) "
                              f"{', '.join(unknown)}; it takes limit, delay and backoff")
    resolved = {"retries": {**DEFAULT_CONFIG["retries"], **retries},
                "timeout": config.get("timeout", DEFAULT_CONFIG["timeout"])}
    limit = resolved["retries"]["limit"]
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise DefinitionError(f"{where}: config retries.limit must be a whole number >= 0, "
                              f"got {limit!r}")
    backoff = resolved["retries"]["backoff"]
    if backoff not in _BACKOFFS:
        raise DefinitionError(f"{where}: config retries.backoff must be one of "
                              f"{', '.join(_BACKOFFS)}, got {backoff!r}")
    delay = _milliseconds(resolved["retries"]["delay"], "retries.delay", where)
    timeout = _milliseconds(resolved["timeout"], "timeout", where)
    if timeout <= 0:
        raise DefinitionError(f"{where}: config timeout must be positive, got "
                              f"{resolved['timeout']!r}")
    # the wait after failed attempt n: delay, delay * n, or delay * 2 ** (n - 1)
    factor = {"constant": lambda n: 1, "linear": lambda n: n,
              "exponential": lambda n: 2 ** (n - 1)}[backoff]
    delays = tuple(delay * factor(n) for n in range(1, max(limit, 1) + 1))
    return resolved, RetryPolicy(limit, "fixed", delays, max_delay=None), timeout


# -- steps -------------------------------------------------------------------------------------

class StepCallable:
    """What ``@step.do`` returns: awaiting a call runs the step (a step id of its own each
    call); a step that takes its result as a dependency runs it once, if it has not run."""

    def __init__(self, owner: WorkflowStep, definition: Step, depends: list[StepCallable],
                 needs: dict[str, StepCallable], concurrent: bool) -> None:
        self._owner = owner
        self.definition = definition
        self.depends = depends  # legacy depends=[...]: results passed in order
        self.needs = needs  # parameter name -> the step whose result it receives
        self.concurrent = concurrent
        self.first: asyncio.Future[Any] | None = None  # the first call's outcome

    def __call__(self) -> Awaitable[Any]:
        return self._owner.call(self)

    def __repr__(self) -> str:
        return f"<step.do {self.definition.name}>"


def _names_step(fn: Callable[..., Any], name: str, config: dict[str, Any]) -> Callable[..., Any]:
    """``fn`` as the engine runs it: dependencies arrive as arguments, ``ctx`` is added."""
    wants_ctx = "ctx" in inspect.signature(fn).parameters

    def context() -> dict[str, Any]:
        step_id = current_step.get() or f"{name}#1"
        return {"step": {"name": name, "count": int(step_id.rpartition("#")[2])},
                "attempt": step_attempt.get(), "config": config}

    def checked(result: Any) -> Any:
        _check_size(result, f"the result of step {current_step.get() or name}")
        return result

    if inspect.iscoroutinefunction(fn):
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            return checked(await fn(*args, **kwargs,
                                    **({"ctx": context()} if wants_ctx else {})))
        return run_async

    def run_sync(*args: Any, **kwargs: Any) -> Any:
        return checked(fn(*args, **kwargs, **({"ctx": context()} if wants_ctx else {})))
    return run_sync


class WorkflowStep:
    """The ``step`` argument of ``run(self, event, step)``."""

    def __init__(self) -> None:
        self._declared: dict[str, StepCallable] = {}

    def do(self, name: str | None = None, *, concurrent: bool = False,
           config: dict[str, Any] | None = None,
           depends: list[StepCallable] | None = None) -> Callable[[Callable[..., Any]],
                                                                  StepCallable]:
        """Declare a step; the decorator returns the callable that runs it when awaited."""
        if name is not None and not isinstance(name, str):
            raise DefinitionError(f"step.do(name) must be a string, got {name!r}")

        def decorate(fn: Callable[..., Any]) -> StepCallable:
            if not callable(fn):
                raise DefinitionError(f"step.do decorates a function, got {fn!r}")
            step_name = check_name(name or fn.__name__, "step")
            where = f"step {step_name!r}"
            resolved, policy, timeout = resolve_config(config, where)
            explicit = list(depends or [])
            for dep in explicit:
                if not isinstance(dep, StepCallable):
                    raise DefinitionError(f"{where}: depends lists the steps it needs (what "
                                          f"@step.do returned), got {dep!r}")
            needs = {p: self._declared[p] for p in inspect.signature(fn).parameters
                     if p in self._declared}
            definition: Step[..., Any] = Step(_names_step(fn, step_name, resolved), step_name,
                                              source_of(fn), policy=policy, timeout=timeout)
            declared = StepCallable(self, definition, explicit, needs, concurrent)
            self._declared[fn.__name__] = declared
            return declared

        return decorate

    def call(self, declared: StepCallable) -> Awaitable[Any]:
        """Run ``declared`` after its dependencies; the first run is kept for dependents."""
        run = asyncio.ensure_future(self._run(declared))
        if declared.first is None:
            declared.first = run
        return run

    async def _run(self, declared: StepCallable) -> Any:
        needed = [*declared.depends, *declared.needs.values()]
        if declared.concurrent:
            values = list(await asyncio.gather(*(self._result_of(d) for d in needed)))
        else:
            values = [await self._result_of(d) for d in needed]
        positional = values[:len(declared.depends)]
        named = dict(zip(declared.needs, values[len(declared.depends):], strict=True))
        return await declared.definition(*positional, **named)

    def _result_of(self, dependency: StepCallable) -> Awaitable[Any]:
        return dependency.first if dependency.first is not None else self.call(dependency)

    async def sleep(self, name: str, duration: Any) -> None:
        """A durable sleep named ``name`` (seconds or a WorkflowDuration string)."""
        seconds = parse_duration(duration, what=f"step.sleep({name!r}) duration")
        run = require_run("step.sleep()")
        if seconds > MAX_SLEEP and not run.info().replaying:
            _log.warning("step.sleep(%r) sleeps %s: on Cloudflare a sleep is at most 365 days",
                         name, format_duration(seconds))
        await run.sleep_until(run.clock_now() + seconds, check_name(name, "step.sleep"))

    async def sleep_until(self, name: str, timestamp: datetime | float) -> None:
        """A durable sleep named ``name`` until a datetime or epoch seconds."""
        until = parse_instant(timestamp, what=f"step.sleep_until({name!r}) timestamp")
        await require_run("step.sleep_until()").sleep_until(
            until, check_name(name, "step.sleep_until"))

    async def wait_for_event(self, name: str, event_type: str,
                             timeout: Any = "24 hours") -> dict[str, Any]:
        """Wait for an event of ``event_type`` sent to the instance; returns
        ``{"payload", "timestamp", "type"}``. Raises ``pw.EventTimeout`` after ``timeout``."""
        if not isinstance(event_type, str) or not event_type:
            raise InvalidInput(f"step.wait_for_event({name!r}) needs an event type string, "
                               f"got {event_type!r}")
        seconds = parse_duration(timeout, what=f"step.wait_for_event({name!r}) timeout")
        sent = await require_run("step.wait_for_event()").wait_for_event(
            event_type, seconds, check_name(name, "step.wait_for_event"))
        return {**sent, "timestamp": datetime.fromisoformat(sent["timestamp"])}


# -- workflows ---------------------------------------------------------------------------------

class WorkflowEntrypoint:
    """Subclass it and write ``async def run(self, event, step)``: the class is a workflow
    named after it, started through a binding (:class:`Env`)."""

    env: Any = None
    _bound_env: ClassVar[Any] = None
    __pw_workflow__: ClassVar[Workflow[..., Any]]  # the engine's definition (pw.Replayer)

    def __init__(self, ctx: Any = None, env: Any = None) -> None:
        self.ctx = ctx
        self.env = env if env is not None else type(self)._bound_env

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        run = cls.__dict__.get("run")
        if run is None or not inspect.iscoroutinefunction(run):
            raise DefinitionError(f"{cls.__name__} needs `async def run(self, event, step)`")

        async def entrypoint(payload: Any = None) -> Any:
            info = require_run("a WorkflowEntrypoint").info()
            started = datetime.fromtimestamp(info.started_at or 0, timezone.utc)
            event = {"payload": payload, "timestamp": started, "instanceId": info.run_id,
                     "workflowName": cls.__name__}
            return await cls().run(event, WorkflowStep())  # type: ignore[attr-defined]

        source = "\n".join(source_of(f) for f in vars(cls).values() if inspect.isfunction(f))
        cls.__pw_workflow__ = workflow(name=cls.__name__, source=source)(entrypoint)


class WorkerEntrypoint:
    """A Worker's entrypoint: ``self.env`` holds the bindings (``fetch`` is yours to write)."""

    def __init__(self, ctx: Any = None, env: Any = None) -> None:
        self.ctx = ctx
        self.env = env


class Response:
    """Enough of the Workers ``Response`` for a local ``fetch`` handler."""

    def __init__(self, body: str = "", status: int = 200,
                 headers: dict[str, str] | None = None) -> None:
        self.body = body
        self.status = status
        self.headers = headers or {}

    @classmethod
    def json(cls, data: Any, status: int = 200,
             headers: dict[str, str] | None = None) -> Response:
        return cls(json.dumps(data), status, {"content-type": "application/json", **(
            headers or {})})

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body[:60]!r}>"


# -- the binding -------------------------------------------------------------------------------

_STATUS = {"pending": "queued", "waiting_for_definition": "queued", "running": "running",
           "sleeping": "waiting", "waiting": "waiting", "paused": "paused",
           "completed": "complete", "failed": "errored", "cancelled": "terminated",
           "terminated": "terminated", "continued": "complete"}


class WorkflowInstance:
    """One run of a workflow, as ``env.MY_WORKFLOW.create()`` and ``get()`` return it."""

    def __init__(self, run_id: str) -> None:
        self.id = run_id
        self._handle = client.RunHandle(run_id)

    async def status(self) -> dict[str, Any]:
        """``{"status": "queued"|"running"|"paused"|"waiting"|"complete"|"errored"|
        "terminated", "output", "error"}`` as Cloudflare reports it."""
        row = self._handle.row()
        described: dict[str, Any] = {"status": _STATUS.get(row.status, "unknown"),
                                     "output": None, "error": None}
        if row.status == "completed":
            described["output"] = await self._handle.result()
        elif row.status == "failed":
            error = self._handle.describe().get("error") or {}
            described["error"] = {"name": str(error.get("type", "Error")).rpartition(".")[2],
                                  "message": error.get("message", "")}
        return described

    async def pause(self) -> None:
        await self._handle.pause()

    async def resume(self) -> None:
        await self._handle.resume()

    async def terminate(self) -> None:
        await self._handle.terminate("terminated through the binding")

    async def restart(self) -> None:
        await self._handle.restart()

    async def send_event(self, type: str, payload: Any = None) -> None:
        """Deliver an event to the instance's ``step.wait_for_event(..., type)``."""
        _check_size(payload, f"the payload of event {type!r}")
        sent_at = datetime.fromtimestamp(runtime.ensure().clock.now(), timezone.utc)
        await self._handle.send_event(type, {"type": type, "payload": payload,
                                             "timestamp": sent_at.isoformat()})

    async def sendEvent(self, event: dict[str, Any]) -> None:
        await self.send_event(event["type"], event.get("payload"))

    def __repr__(self) -> str:
        return f"<WorkflowInstance {self.id}>"


def _options(options: dict[str, Any] | None, id: str | None, params: Any) -> tuple[Any, Any]:
    if options is not None:
        if not isinstance(options, dict) or set(options) - {"id", "params"}:
            raise InvalidInput(f"create() takes id= and params= (or one dict of them), got "
                               f"{options!r}")
        return options.get("id", id), options.get("params", params)
    return id, params


class WorkflowBinding:
    """``env.MY_WORKFLOW``: creates and finds instances of one workflow class."""

    def __init__(self, cls: type[WorkflowEntrypoint]) -> None:
        self.cls = cls

    async def create(self, options: dict[str, Any] | None = None, *, id: str | None = None,
                     params: Any = None) -> WorkflowInstance:
        """Start an instance (a run) with ``params`` as ``event["payload"]``; an ``id`` that
        exists already is refused, as Cloudflare refuses it."""
        run_id, payload = _options(options, id, params)
        if run_id is not None:
            try:
                client.get_run(run_id)
            except RunNotFound:
                pass
            else:
                raise InvalidInput(f"an instance with id {run_id!r} already exists; choose "
                                   "another id, or get() it")
        handle = await client.start(self.cls.__name__, payload, run_id=run_id)
        return WorkflowInstance(handle.run_id)

    async def create_batch(self, batch: list[dict[str, Any]]) -> list[WorkflowInstance]:
        """Create one instance per ``{"id", "params"}`` dict, in order."""
        ids = [options.get("id") for options in batch if isinstance(options, dict)]
        repeated = sorted({i for i in ids if i is not None and ids.count(i) > 1})
        if repeated:
            raise InvalidInput(f"create_batch repeats the instance id(s) {', '.join(repeated)}")
        return [await self.create(options) for options in batch]

    async def get(self, id: str) -> WorkflowInstance:
        """The instance ``id``; raises ``pw.RunNotFound`` when there is none."""
        client.get_run(id)
        return WorkflowInstance(id)


class Env:
    """Stands in for a Worker's ``env``: ``Env(MY_WORKFLOW=MyWorkflow)`` binds each
    ``WorkflowEntrypoint`` subclass under its binding name; other values pass through."""

    def __init__(self, **bindings: Any) -> None:
        for name, value in bindings.items():
            if isinstance(value, type) and issubclass(value, WorkflowEntrypoint):
                value._bound_env = self
                value = WorkflowBinding(value)
            setattr(self, name, value)


# -- the import names --------------------------------------------------------------------------

def install() -> None:
    """Make ``import workers`` and ``import workers.workflows`` resolve to this module, so
    Cloudflare code runs unchanged; refused when a real ``workers`` package is importable."""
    mine = sys.modules.get("workers")
    if getattr(mine, "__pyworkflow_nb__", False):
        return
    if mine is not None or importlib.util.find_spec("workers") is not None:
        raise PyWorkflowError(
            "a package named `workers` is already importable, so install() will not shadow "
            "it; run the Cloudflare code in an environment without it, or import "
            "pyworkflow_nb.compat.cloudflare directly")
    workers = types.ModuleType("workers", "Cloudflare Workers names, run by pyworkflow_nb")
    workflows = types.ModuleType("workers.workflows")
    workflows.NonRetryableError = NonRetryableError  # type: ignore[attr-defined]
    for name in ("WorkflowEntrypoint", "WorkerEntrypoint", "Response", "NonRetryableError"):
        setattr(workers, name, globals()[name])
    workers.workflows = workflows  # type: ignore[attr-defined]
    workers.__path__ = []  # a package, so `workers.workflows` imports
    workers.__pyworkflow_nb__ = True  # type: ignore[attr-defined]
    sys.modules["workers"] = workers
    sys.modules["workers.workflows"] = workflows
