"""``configure``, ``get_config`` and ``reset_config``: pyworkflow's settings over this
engine's (a storage backend chooses the store; runs are always durable here)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ... import client as native
from ...errors import InvalidInput
from ...runtime import Config, runtime
from .storage import StorageBackend


@dataclass(frozen=True)
class PyWorkflowConfig:
    """What ``get_config()`` returns."""

    storage: StorageBackend | None = None
    default_runtime: str = "local"
    default_durable: bool = True
    default_retries: int = 3


_config = PyWorkflowConfig()


def configure(*, storage: StorageBackend | None = None, **options: Any) -> None:
    """Set options; ``storage`` switches this engine to the store it names (closing the
    current one: its unfinished runs resume when that store is opened again)."""
    global _config
    known = set(PyWorkflowConfig.__dataclass_fields__) - {"storage"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise InvalidInput(f"configure() got unknown option(s) {', '.join(unknown)}; it takes "
                           f"storage, {', '.join(sorted(known))}")
    if storage is not None and not isinstance(storage, StorageBackend):
        raise InvalidInput(f"configure(storage=...) takes a storage backend such as "
                           f"InMemoryStorageBackend(), got {storage!r}")
    _config = replace(_config, **options)
    if storage is not None:
        _config = replace(_config, storage=storage)
        native.configure(store=storage.store)


def get_config() -> PyWorkflowConfig:
    return _config


def reset_config() -> None:
    """Back to the defaults: the engine closes and its next use opens the default store."""
    global _config
    _config = PyWorkflowConfig()
    runtime.shutdown()
    runtime.config = Config(clock=runtime.config.clock)  # the clock is not pyworkflow's


__all__ = ["PyWorkflowConfig", "configure", "get_config", "reset_config"]
