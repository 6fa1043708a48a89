"""The process-wide engine: its configuration, its event loop, and calls into it.

In a Jupyter kernel, in marimo, and in a script with no loop running, the engine gets a loop
of its own on a background thread, so a cell that blocks (``time.sleep``, a model fit,
``pw.run``) never stops its timers, retries or schedules. Under a loop that is already running
elsewhere (``asyncio.run``), it lives on that loop. Async calls from another loop hop onto the
engine's loop; sync calls block on it, re-entering the loop with nest-asyncio2 only when the
caller runs on the engine's own loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import sys
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from .durations import parse_duration
from .engine import Clock, Engine, time_domain
from .engine.steps import LocalStepExecutor, StepExecutor
from .errors import InvalidInput
from .store import DuckDBStore, SharedStore
from .store.postgres_store import PostgresStore, is_postgres_url
from .store.writer import Durability

T = TypeVar("T")
DEFAULT_STORE = Path(".pyworkflow_nb") / "store.duckdb"
STORE_ENV = "PYWORKFLOW_NB_STORE"
MIN_LEASE = 1.0  # seconds: a shorter lease could lapse between two renewals on a busy machine
NOTEBOOK_ENV = "JPY_SESSION_NAME"  # jupyter-server sets it in a kernel: the notebook's path


def notebook_path() -> Path | None:
    """The notebook file this kernel runs, when its front-end says (Jupyter, VS Code, marimo)."""
    if in_marimo():
        return _marimo_notebook()
    named = os.environ.get(NOTEBOOK_ENV, "")
    if not named.endswith(".ipynb") and "IPython" in sys.modules:
        from IPython import get_ipython

        shell = get_ipython()
        named = str(getattr(shell, "user_ns", {}).get("__vsc_ipynb_file__", ""))
    return Path(named) if named.endswith(".ipynb") else None


def _marimo_notebook() -> Path | None:
    from marimo._runtime.context import get_context  # marimo has no public name for the file

    try:
        named = get_context().filename
    except Exception:  # another marimo than the one this was written against
        return None
    return Path(named) if named else None


def default_store() -> Path:
    """``.pyworkflow_nb/store.duckdb`` in the working directory; for a notebook whose kernel
    knows its file, ``.pyworkflow_nb/<notebook name>.duckdb`` beside it, so two notebooks never
    fight over one store."""
    notebook = notebook_path()
    if notebook is None:
        return DEFAULT_STORE
    return notebook.parent / ".pyworkflow_nb" / f"{notebook.stem}.duckdb"


def describe_process() -> str:
    """Who this process is, for a lock error seen by another one."""
    notebook = notebook_path()
    if notebook is not None:
        return f"the kernel of notebook {notebook}"
    if in_kernel():
        return "a Jupyter kernel"
    main = getattr(sys.modules.get("__main__"), "__file__", None) or (
        sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c") else None)
    return f"the script {main}" if main else "an interactive Python session"


def open_store(store: str, read_only: bool) -> DuckDBStore | PostgresStore:
    """The store a setting names: a PostgreSQL URL or a DuckDB file (or ``":memory:"``)."""
    if is_postgres_url(store):
        return PostgresStore(store, read_only=read_only)
    return DuckDBStore(store, read_only=read_only, holder=describe_process())


def in_kernel() -> bool:
    """Whether code runs in a Jupyter kernel, where widgets can reach a page."""
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None


def in_marimo() -> bool:
    """Whether code runs in a marimo notebook or app, where each session has a loop (and a
    thread) of its own that ends when its page closes."""
    marimo = sys.modules.get("marimo")
    return marimo is not None and bool(marimo.running_in_notebook())


@dataclass(frozen=True)
class Config:
    """How the engine opens its store and commits."""

    store: str | None = None
    durability: Durability = "sync"
    read_only: bool = False
    clock: Clock | None = None
    concurrency: int | None = None  # step attempts at once (None: no cap)
    lease: float | None = None  # seconds a shared store's lease lasts (None: the store's)
    executor: str = "here"  # where runs started here execute: "here" or "workers"
    worker: bool = False  # this process takes the runs left for workers (the worker command)
    #: makes the engine's step executor from ``concurrency`` (None: steps run in this process)
    steps: Callable[[int | None], StepExecutor] | None = None

    def store_path(self) -> str:
        if self.store is not None:
            return self.store
        return os.environ.get(STORE_ENV) or str(default_store())


class Runtime:
    """Owns the default engine; every public call goes through :meth:`call` or :meth:`call_sync`."""

    def __init__(self) -> None:
        self.config = Config()
        self.engine: Engine | None = None
        self.store: DuckDBStore | PostgresStore | None = None
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._nested: set[int] = set()
        self._handed: concurrent.futures.Future[None] | None = None  # see hand_over
        #: called with each new engine, on its loop, before it resumes the store's runs
        self.on_start: list[Callable[[Engine], None]] = []

    # -- configuration -------------------------------------------------------------------------

    def configure(self, **changes: Any) -> Config:
        durability = changes.get("durability")
        if durability is not None and durability not in ("sync", "relaxed"):
            raise InvalidInput(f'durability must be "sync" or "relaxed", got {durability!r}')
        concurrency = changes.get("concurrency")
        if concurrency is not None and (isinstance(concurrency, bool)
                                        or not isinstance(concurrency, int) or concurrency < 1):
            raise InvalidInput(f"concurrency must be an int >= 1, got {concurrency!r}")
        executor = changes.get("executor")
        if executor is not None and executor not in ("here", "workers"):
            raise InvalidInput(f'executor must be "here" or "workers", got {executor!r}')
        lease = changes.get("lease")
        if lease is not None:
            changes["lease"] = parse_duration(lease, what="lease")
            if changes["lease"] < MIN_LEASE:
                raise InvalidInput(f"lease must be at least {MIN_LEASE:g} s (it is renewed "
                                   f"every third of it), got {lease!r}")
        store = changes.get("store")
        if store is not None:
            if not isinstance(store, (str, os.PathLike)) or not os.fspath(store):
                raise InvalidInput(f"store must be a file path, \":memory:\" or a "
                                   f"postgresql:// URL, got {store!r}")
            changes["store"] = os.fspath(store)
        new = replace(self.config, **{k: v for k, v in changes.items() if v is not None})
        if new != self.config:
            self.shutdown()
            self.config = new
        return new

    # -- the engine ----------------------------------------------------------------------------

    def ensure(self, caller_loop: asyncio.AbstractEventLoop | None = None, *,
               after_handed: bool = True) -> Engine:
        """The running engine, created (and recovering) on first use.

        It gets a loop and thread of its own, except when an async call creates it outside a
        kernel or marimo (``caller_loop``): then it shares that loop, which saves every call a
        hop between threads. (A marimo session's loop ends with its page, and the engine
        serves every session.) With ``after_handed``, a call from another thread first waits for
        what :meth:`hand_over` gave the engine, so it sees the runs started that way.
        """
        handed = self._handed
        if after_handed and handed is not None and self.engine_thread_is_another():
            with contextlib.suppress(BaseException):  # the handle it went with raises it
                handed.result()
        with self._lock:
            engine = self.engine
            if engine is not None and not engine.loop.is_closed() and not engine.closing:
                return engine
            if engine is not None:
                self._abandon(engine)
            if self.store is None or self.store.source != self.config.store_path():
                self.store = open_store(self.config.store_path(), self.config.read_only)
            store, config = self.store, self.config
            if config.lease is not None and isinstance(store, SharedStore):
                store.lease_seconds = config.lease
            time_domain.claim(store, config.clock or Clock())
            loop = None if in_kernel() or in_marimo() else caller_loop
            in_thread = loop is None
            if loop is None:
                loop = self._start_thread()

            def create() -> Engine:
                engine = Engine(store, loop, durability=config.durability, clock=config.clock,
                                step_executor=(config.steps or LocalStepExecutor)(
                                    config.concurrency),
                                executor="workers" if config.executor == "workers" else "here",
                                worker=config.worker)
                for hook in self.on_start:
                    hook(engine)
                if not store.read_only:
                    loop.create_task(engine.recover())
                return engine

            if in_thread:
                done: asyncio.Future[Engine] = asyncio.run_coroutine_threadsafe(  # type: ignore
                    _call(create), loop)
                self.engine = done.result()
            else:
                self.engine = create()
            return self.engine

    def _start_thread(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=serve, name="pyworkflow-engine", daemon=True)
        self._thread.start()
        ready.wait()
        return loop

    def _abandon(self, engine: Engine) -> None:
        """Forget an engine whose loop has closed under it (e.g. after ``asyncio.run``)."""
        engine.writer.close()
        engine.step_executor.shutdown()
        self.engine = None

    # -- calling into the engine ---------------------------------------------------------------

    async def call(self, fn: Callable[[Engine], Awaitable[T]]) -> T:
        """Await ``fn(engine)`` on the engine's loop, from whichever loop is running."""
        engine = self.ensure(asyncio.get_running_loop())
        if engine.loop is asyncio.get_running_loop():
            return await fn(engine)
        return await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(_call(fn, engine), engine.loop))

    def hand_over(self, engine: Engine, fn: Callable[[], asyncio.Future[None]]
                  ) -> concurrent.futures.Future[None]:
        """Have ``fn()`` called on the engine's thread without waiting for it; the future
        answers once the future ``fn`` returned does. Calls that follow (:meth:`ensure`) wait
        for it first."""
        done: concurrent.futures.Future[None] = concurrent.futures.Future()

        def settle(fut: asyncio.Future[None]) -> None:
            if fut.cancelled():
                done.cancel()
            elif (exc := fut.exception()) is not None:
                done.set_exception(exc)
            else:
                done.set_result(None)

        def call() -> None:
            try:
                fn().add_done_callback(settle)
            except BaseException as exc:  # handed to whoever waits for ``done``
                done.set_exception(exc)

        self._handed = done
        engine.loop.call_soon_threadsafe(call)
        return done

    def engine_thread_is_another(self) -> bool:
        """The engine runs on a thread of its own, and the caller is not on it."""
        thread = self._thread
        return thread is not None and thread is not threading.current_thread()

    def call_sync(self, fn: Callable[[Engine], Awaitable[T]]) -> T:
        """Run ``fn(engine)`` to completion and return its value, blocking the caller."""
        engine = self.ensure()
        running = _running_loop()
        if running is engine.loop:
            if self._thread is None:  # the engine shares a loop that is not ours: blocking
                raise InvalidInput(  # it would stop every run, re-entering it breaks it
                    "a blocking call (pw.run, SyncClient, SyncRunHandle) cannot run on the "
                    "event loop the engine shares, which the first call here (an async one) "
                    "gave it: use the async API in this code (await pw.start(...), await "
                    "handle.result()), or make a blocking call first so that the engine "
                    "starts on a thread of its own")
            self._allow_nesting(running)  # a step's sync call, on the engine's own loop
            return running.run_until_complete(_call(fn, engine))
        if not engine.loop.is_running():
            return engine.loop.run_until_complete(_call(fn, engine))
        return asyncio.run_coroutine_threadsafe(_call(fn, engine), engine.loop).result()

    def _allow_nesting(self, loop: asyncio.AbstractEventLoop) -> None:
        if id(loop) not in self._nested:
            import nest_asyncio2

            nest_asyncio2.apply(loop)
            self._nested.add(id(loop))

    # -- shutting down -------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Flush and close the engine and its store; runs resume on the next start."""
        with self._lock:
            engine, self.engine = self.engine, None
            if engine is not None and not engine.loop.is_closed():
                self._run_on(engine.loop, engine.close())
            elif engine is not None:
                self._abandon(engine)
            if self._thread is not None and engine is not None:
                engine.loop.call_soon_threadsafe(engine.loop.stop)
                self._thread.join(timeout=5)
                engine.loop.close()
                self._thread = None
            if self.store is not None:
                self.store.close()
                self.store = None

    def _run_on(self, loop: asyncio.AbstractEventLoop, coro: Awaitable[None]) -> None:
        running = _running_loop()
        if running is loop:
            self._allow_nesting(loop)
            loop.run_until_complete(coro)
        elif loop.is_running():
            asyncio.run_coroutine_threadsafe(_call(lambda _: coro, None), loop).result()
        else:
            loop.run_until_complete(coro)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    value = fn(*args)
    return await value if asyncio.iscoroutine(value) or asyncio.isfuture(value) else value


runtime = Runtime()
