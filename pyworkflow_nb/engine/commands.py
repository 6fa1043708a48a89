"""How a run carries out each kind of command on the engine's loop.

The body issues a command on its own loop (:meth:`Run.issue`); the starters here record it
and do the work where real I/O and time are allowed: steps through the engine's
:class:`~.steps.StepExecutor`, timers on the engine's timer heap, waits on the run's inbox
(child runs: :mod:`.children`). Each ends by recording its outcome and delivering it to the
body (:meth:`Run.deliver`).
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from ..context import RunContext, current_step, step_attempt
from ..definitions import Step
from ..durations import format_duration, parse_duration
from ..errors import EventTimeout, NonDeterminismError, RetryableError, SerializationError
from ..history import vocabulary as ev
from ..serde import encode, encode_error
from ..store.frames import is_frame
from .pausing import Pausing

if TYPE_CHECKING:
    from .engine import Engine
    from .pending import Pending
    from .replay import Replay
    from .workflow_loop import WorkflowLoop


class Commands(Pausing, RunContext):
    """The workflow primitives of a run, and the engine-side work behind each command."""

    engine: Engine
    loop: WorkflowLoop
    replay: Replay
    inbox: dict[str, deque[Any]]
    versions: dict[str, int]
    children: dict[str, str]  # child run id -> what happens to it if this run ends first
    waiters: dict[str, deque[Pending]]
    loop_timers: dict[int, Pending]  # id of the body loop's TimerHandle -> its timer command
    failed_step: tuple[BaseException, str] | None
    running_steps: int
    sleeping: int
    waiting: int
    active: int
    awaited_children: set[str]

    @property
    @abstractmethod
    def run_id(self) -> str: ...

    @abstractmethod
    def next_id(self, kind: str, name: str) -> str: ...

    @abstractmethod
    def issue(self, kind: str, name: str, start: Callable[[Pending], None]) -> Pending: ...

    @abstractmethod
    def emit(self, type_: str, step: str | None = None, attempt: int | None = None,
             data: str | None = None, ts: float | None = None) -> float: ...

    @abstractmethod
    def deliver(self, p: Pending, value: Any = None, error: BaseException | None = None, *,
                ts: float, durable: bool = True) -> None: ...

    @abstractmethod
    def refresh_status(self) -> None: ...

    @property
    @abstractmethod
    def halted(self) -> bool: ...

    @abstractmethod
    def diverge(self, error: Any) -> None: ...

    def _spawn(self, p: Pending, coro: Coroutine[Any, Any, None]) -> None:
        """Do the command's work on the engine's loop; it counts as active until it ends."""
        self.active += 1
        p.work = self.engine.loop.create_task(coro)
        p.work.add_done_callback(self._work_ended)

    def _work_ended(self, _: asyncio.Future[Any]) -> None:
        self.active -= 1

    # -- steps ---------------------------------------------------------------------------------

    def call_step(self, step: Step, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Awaitable[Any]:
        def start(p: Pending) -> None:
            attempt, retry_at = 1, None
            if p.recorded is not None:
                attempt, retry_at = max(p.recorded.attempts, 1), p.recorded.retry_at
            if retry_at is None:
                self.emit(ev.STEP_STARTED, p.id, attempt, ev.step_started(args, kwargs))
            self._spawn(p, self._run_step(p, step, args, kwargs, attempt, retry_at))

        return self.issue("step", step.name, start).future

    async def _run_step(self, p: Pending, step: Step, args: tuple[Any, ...],
                        kwargs: dict[str, Any], attempt: int, retry_at: float | None) -> None:
        policy = step.policy
        while True:
            if retry_at is not None:  # a failed attempt (recorded or just now) waits, then retries
                await self._retry_wait(retry_at)
                await self.until_resumed()
                attempt += 1
                self.emit(ev.STEP_STARTED, p.id, attempt, ev.step_started(args, kwargs))
            try:
                result = await self._attempt(step, p.id, attempt, args, kwargs)
                data = ev.result(encode(result, where=f"the result of step {p.id}"))
            except asyncio.CancelledError:
                self.emit(ev.STEP_CANCELLED, p.id, attempt, ev.EMPTY)
                raise
            except Exception as exc:
                retry = (attempt <= policy.max_retries and policy.retryable(exc)
                         and not isinstance(exc, SerializationError))
                failed_at = self.engine.clock.now()
                retry_at = None
                if retry:
                    delay = policy.delay(attempt)
                    if isinstance(exc, RetryableError) and exc.retry_after is not None:
                        delay = parse_duration(exc.retry_after, what="retry_after")
                    retry_at = failed_at + delay
                self.emit(ev.STEP_FAILED, p.id, attempt,
                          ev.step_failed(encode_error(exc), retry_at, final=not retry),
                          ts=failed_at)
                if retry_at is None:
                    self.failed_step = (exc, p.id)
                    self.deliver(p, error=exc, ts=failed_at)
                    return
                continue
            if is_frame(result):
                self.engine.writer.frame(self.run_id, p.id, result)
            self.deliver(p, result, ts=self.emit(ev.STEP_COMPLETED, p.id, attempt, data))
            return

    async def _attempt(self, step: Step, step_id: str, attempt: int, args: tuple[Any, ...],
                       kwargs: dict[str, Any]) -> Any:
        self.running_steps += 1
        if self.running_steps == 1:
            self.refresh_status()
        step_token, attempt_token = current_step.set(step_id), step_attempt.set(attempt)
        try:
            work = self.engine.step_executor.execute(step, args, kwargs)
            if step.timeout is None:
                return await work
            try:
                return await asyncio.wait_for(work, step.timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(
                    f"step {step_id} attempt {attempt} timed out after "
                    f"{format_duration(step.timeout)}") from None
        finally:
            current_step.reset(step_token)
            step_attempt.reset(attempt_token)
            self.running_steps -= 1
            if not self.running_steps:
                self.refresh_status()

    async def _retry_wait(self, retry_at: float) -> None:
        self.sleeping += 1
        self.active -= 1
        self.refresh_status()
        try:
            await self.engine.timers.wait(retry_at)
        finally:
            self.sleeping -= 1
            self.active += 1
            self.refresh_status()

    # -- what the run's status shows -----------------------------------------------------------

    def _count(self, p: Pending, counter: str) -> None:
        """Show ``p`` in the run's status (``sleeping`` or ``waiting``) until it ends."""
        if not p.future.done() and not p.counted:
            p.counted = True
            setattr(self, counter, getattr(self, counter) + 1)
            self.refresh_status()

    def _count_once_recorded(self, p: Pending, counter: str) -> None:
        """:meth:`_count` once the start of ``p`` is durable: a run shown ``sleeping`` has its
        timer's deadline in the store."""
        def count(fut: asyncio.Future[None]) -> None:
            if not fut.cancelled():
                fut.exception()  # a store failure reaches the run through its deliveries
            self._count(p, counter)

        writer = self.engine.writer
        if writer.sync and not writer.idle:
            writer.durable().add_done_callback(count)
        else:
            self._count(p, counter)

    def _uncount(self, p: Pending, counter: str) -> None:
        if p.counted:
            p.counted = False
            setattr(self, counter, getattr(self, counter) - 1)
            self.refresh_status()

    # -- timers --------------------------------------------------------------------------------

    def timer(self, name: str, until: float) -> Pending:
        """Issue a durable timer command that resolves once the clock reaches ``until``."""
        def start(p: Pending) -> None:
            deadline = until
            if p.recorded is None:
                self.emit(ev.TIMER_STARTED, p.id, None, ev.timer_started(until))
            elif p.recorded.until is not None:
                deadline = p.recorded.until
            fired = self.engine.timers.wait(deadline)
            p.work = fired
            p.until = deadline
            self._count_once_recorded(p, "sleeping")

            def done(fut: asyncio.Future[None]) -> None:
                self._uncount(p, "sleeping")
                if fut.cancelled():
                    if not self.halted:
                        self.emit(ev.TIMER_CANCELLED, p.id, None, ev.EMPTY)
                else:
                    self.deliver(p, ts=self.emit(ev.TIMER_FIRED, p.id, None, ev.EMPTY),
                                 durable=False)

            fired.add_done_callback(done)

        return self.issue("timer", name, start)

    async def sleep_until(self, until: float, name: str = "sleep") -> None:
        await self.timer(name, until).future

    def _start_loop_timer(self, handle: asyncio.TimerHandle) -> None:
        """``asyncio.sleep``, ``timeout`` and ``wait_for`` in the body: a durable timer."""
        p = self.timer("sleep", handle.when())
        self.loop_timers[id(handle)] = p
        p.future.add_done_callback(lambda f: self._loop_timer_done(handle, f))

    def _loop_timer_done(self, handle: asyncio.TimerHandle, fut: asyncio.Future[Any]) -> None:
        self.loop_timers.pop(id(handle), None)
        if not fut.cancelled():
            self.loop.fire(handle)

    def _cancel_loop_timer(self, handle: asyncio.TimerHandle) -> None:
        p = self.loop_timers.get(id(handle))
        if p is not None:
            p.future.cancel()

    async def with_timeout(self, body: Coroutine[Any, Any, Any], timeout: float) -> Any:
        """Await ``body``, failing with TimeoutError once the durable ``timeout`` passes."""
        loop = asyncio.get_running_loop()
        task = loop.create_task(body)
        timer = self.timer("timeout", loop.time() + timeout).future
        await asyncio.wait((task, timer), return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            timer.cancel()
            return task.result()
        task.cancel()
        raise TimeoutError(f"workflow timed out after {format_duration(timeout)}")

    # -- external events -----------------------------------------------------------------------

    async def wait_for_event(self, name: str, timeout: float | None,
                             label: str | None = None) -> Any:
        def start(p: Pending) -> None:
            waited = timeout
            if p.recorded is None:
                timeout_at = None if timeout is None else self.engine.clock.now() + timeout
                self.emit(ev.WAIT_STARTED, p.id, None,
                          ev.wait_started(name, timeout_at, timeout))
            else:
                timeout_at = p.recorded.until
                waited = p.recorded.data.get("timeout", timeout)
            queue = self.inbox.get(name)
            if queue:
                self.complete_wait(p, name, queue.popleft())
                return
            self.waiters.setdefault(name, deque()).append(p)
            self._count(p, "waiting")
            self.engine.writer.commit_soon()  # a run shown waiting has its wait recorded
            p.future.add_done_callback(lambda _: self._stop_waiting(p, name))
            if timeout_at is not None:
                p.work = self.engine.timers.wait(timeout_at)
                p.work.add_done_callback(lambda f: None if f.cancelled()
                                         else self._timed_out(p, name, waited))

        return await self.issue("wait", label or f"event:{name}", start).future

    def complete_wait(self, p: Pending, name: str, payload: Any) -> None:
        """Hand ``payload`` to the wait ``p``."""
        self._stop_waiting(p, name)
        if p.work is not None:
            p.work.cancel()
        data = ev.wait_completed(name, encode(payload, where=f"event {name!r}"))
        self.deliver(p, payload, ts=self.emit(ev.WAIT_COMPLETED, p.id, None, data))

    def _stop_waiting(self, p: Pending, name: str) -> None:
        queue = self.waiters.get(name)
        if queue and p in queue:
            queue.remove(p)
        self._uncount(p, "waiting")

    def _timed_out(self, p: Pending, name: str, waited: float | None) -> None:
        self._stop_waiting(p, name)
        ts = self.emit(ev.WAIT_TIMED_OUT, p.id, None, ev.wait_timed_out(name))
        self.deliver(p, error=self.timeout_error(name, p.id, waited), ts=ts)

    def timeout_error(self, name: str, wait_id: str, waited: float | None) -> EventTimeout:
        within = f"within {format_duration(waited)}" if waited is not None else "in time"
        return EventTimeout(f"run {self.run_id!r}: no {name!r} event arrived {within} "
                            f"(the timeout of {wait_id})", event=name)

    def on_event(self, name: str, payload: Any) -> None:
        """Hand an event that was just recorded to the first waiter, or keep it."""
        queue = self.waiters.get(name)
        if queue:
            self.complete_wait(queue[0], name, payload)
        else:
            self.inbox.setdefault(name, deque()).append(payload)

    # -- recorded values -----------------------------------------------------------------------

    def record_value(self, kind: str, make: Callable[[], Any]) -> Any:
        value_id = self.next_id("value", kind)
        recorded = self.replay.match("value", value_id)
        if recorded is not None:
            return recorded.result
        if self.replay.active:
            error = self.replay.diverged(self.replay.new[-1])
            self.diverge(error)
            raise error
        value = make()
        self.emit(ev.VALUE_RECORDED, value_id, None,
                  ev.value_recorded(encode(value, where=f"recorded value {value_id}")))
        return value

    def version_of(self, change_id: str, newest: int, *, oldest: int | None = None,
                   deprecated: bool = False) -> int:
        """The version of ``change_id`` the run follows: the one its history recorded; else,
        while replaying a path recorded before the change, ``DEFAULT_VERSION``; else (live)
        ``newest``, recorded. A deprecated change is always taken. A version below ``oldest``
        fails the run with a divergence: the code no longer has its branch."""
        known = self.versions.get(change_id)
        if known is None:
            known = self.versions[change_id] = self._version_of(change_id, newest, deprecated)
        if oldest is not None and not oldest <= known <= newest:
            error = NonDeterminismError(
                f"run {self.run_id!r} follows version {known} of change {change_id!r}, but "
                f"the code handles versions {oldest} to {newest} only: keep the branch for "
                f"version {known} until no run needs it (pw.get_version({change_id!r}, "
                f"{min(oldest, known)}, {max(newest, known)}))",
                run_id=self.run_id, expected=f"version {known} of {change_id}",
                actual=f"versions {oldest}..{newest}")
            self.diverge(error)
            raise error
        return known

    def _version_of(self, change_id: str, newest: int, deprecated: bool) -> int:
        version = self.replay.history.markers.get(change_id)
        if version is None and self.replay.active and not deprecated:
            version = ev.DEFAULT_VERSION
        elif version is None:
            version = newest
            if not self.replay.active:
                self.emit(ev.PATCH_RECORDED, change_id, None,
                          ev.patch_recorded(newest, deprecated))
        return version

    async def side_effect(self, fn: Callable[[], Any]) -> Any:
        def start(p: Pending) -> None:
            self._spawn(p, self._run_side_effect(p, fn))

        return await self.issue("value", "side_effect", start).future

    async def _run_side_effect(self, p: Pending, fn: Callable[[], Any]) -> None:
        token = current_step.set(p.id)
        try:
            value = fn()
            if asyncio.iscoroutine(value):
                value = await value
            data = ev.value_recorded(encode(value, where=f"side effect {p.id}"))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.deliver(p, error=exc, ts=self.engine.clock.now(), durable=False)
            return
        finally:
            current_step.reset(token)
        self.deliver(p, value, ts=self.emit(ev.VALUE_RECORDED, p.id, None, data))
