"""The public names are a promise: pin them, and keep the sync twin in step with the async API."""

from __future__ import annotations

import inspect

import pyworkflow_nb as pw


def test_every_exported_name_exists() -> None:
    assert len(set(pw.__all__)) == len(pw.__all__), "no name twice (ruff keeps them sorted)"
    for name in pw.__all__:
        assert hasattr(pw, name), name


def test_core_names_are_exported() -> None:
    core = {"workflow", "step", "sleep", "sleep_until", "wait_for_event", "now", "random",
            "uuid4", "side_effect", "info", "get_logger", "start", "run", "runs_table", "get_run",
            "list_runs", "sql", "configure", "shutdown", "SyncClient", "RunHandle",
            "FatalError", "NonRetryableError", "RetryableError", "EventTimeout",
            "NonDeterminismError", "WorkflowFailed", "WorkflowCancelled", "RunNotFound",
            "StoreLockedError"}
    assert core <= set(pw.__all__)


def _params(fn: object, skip_self: bool = False) -> list[tuple[str, object, object]]:
    params = list(inspect.signature(fn).parameters.values())  # type: ignore[arg-type]
    return [(p.name, p.kind, p.default) for p in params[1 if skip_self else 0:]]


def test_the_sync_handle_is_a_sibling_with_every_async_method_as_a_blocking_twin() -> None:
    assert not issubclass(pw.SyncRunHandle, pw.RunHandle)
    assert not issubclass(pw.RunHandle, pw.SyncRunHandle)
    async_methods = [n for n, f in inspect.getmembers(pw.RunHandle, inspect.iscoroutinefunction)
                     if not n.startswith("_")]
    assert {"result", "cancel", "send_event", "retry"} <= set(async_methods)
    for name in async_methods:
        twin = getattr(pw.SyncRunHandle, name)
        assert not inspect.iscoroutinefunction(twin), name
        assert _params(twin) == _params(getattr(pw.RunHandle, name)), name


def test_every_public_async_call_has_a_sync_client_twin() -> None:
    # awaited inside workflows, not client calls
    primitives = {"pyworkflow_nb.primitives", "pyworkflow_nb.messages"}
    async_calls = [n for n in pw.__all__ if inspect.iscoroutinefunction(getattr(pw, n))
                   and getattr(pw, n).__module__ not in primitives]
    assert {"start", "recover", "purge", "skip_until_idle"} <= set(async_calls)
    plain = {"get_run": pw.get_run, "list_runs": pw.list_runs, "sql": pw.sql,
             "run_chain": pw.run_chain}
    for name, fn in [*((n, getattr(pw, n)) for n in async_calls), *plain.items()]:
        twin = getattr(pw.SyncClient, name)
        assert not inspect.iscoroutinefunction(twin), name
        assert _params(twin, skip_self=True) == _params(fn), name
