"""The public names are a promise: pin them, and keep the sync twin in step with the async API."""

from __future__ import annotations

import inspect

import pyworkflow_nb as pw


def test_every_exported_name_exists() -> None:
    assert __import__("pyworkflow_nb").__all__ == sorted(pw.__all__)
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


def test_sync_handle_mirrors_the_async_handle() -> None:
    for name in ("result", "cancel", "send_event"):
        async_sig = inspect.signature(getattr(pw.RunHandle, name))
        sync_sig = inspect.signature(getattr(pw.SyncRunHandle, name))
        assert list(async_sig.parameters) == list(sync_sig.parameters), name
        assert inspect.iscoroutinefunction(getattr(pw.RunHandle, name))
        assert not inspect.iscoroutinefunction(getattr(pw.SyncRunHandle, name))


def test_sync_client_mirrors_module_calls() -> None:
    pairs = {"start": pw.start, "get_run": pw.get_run, "list_runs": pw.list_runs,
             "sql": pw.sql, "recover": pw.recover}
    for name, fn in pairs.items():
        sync_params = list(inspect.signature(getattr(pw.SyncClient, name)).parameters)[1:]
        assert sync_params == list(inspect.signature(fn).parameters), name
