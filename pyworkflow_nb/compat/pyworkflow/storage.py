"""pyworkflow-engine's storage classes, each naming one of this engine's DuckDB stores.

| pyworkflow                         | store here                                   |
|------------------------------------|----------------------------------------------|
| ``InMemoryStorageBackend()``       | ``":memory:"`` (lost when the process ends)  |
| ``FileStorageBackend(base_path)``  | ``<base_path>/pyworkflow.duckdb``            |
| ``SQLiteStorageBackend(db_path)``  | ``<db_path>`` with the suffix ``.duckdb``    |
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StorageBackend(ABC):
    """A place to keep runs; ``store`` is the DuckDB store it maps to."""

    @property
    @abstractmethod
    def store(self) -> str:
        """The store path (or ``":memory:"``) this backend names."""


@dataclass(frozen=True)
class InMemoryStorageBackend(StorageBackend):
    @property
    def store(self) -> str:
        return ":memory:"


@dataclass(frozen=True)
class FileStorageBackend(StorageBackend):
    base_path: str = "./workflow_data"

    @property
    def store(self) -> str:
        Path(self.base_path).mkdir(parents=True, exist_ok=True)
        return str(Path(self.base_path) / "pyworkflow.duckdb")


@dataclass(frozen=True)
class SQLiteStorageBackend(StorageBackend):
    db_path: str = "pyworkflow.db"

    @property
    def store(self) -> str:
        return str(Path(self.db_path).with_suffix(".duckdb"))


__all__ = ["FileStorageBackend", "InMemoryStorageBackend", "SQLiteStorageBackend",
           "StorageBackend"]
