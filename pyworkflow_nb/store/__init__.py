"""The event store: schema, DuckDB implementation and the group-committing writer."""

from .base import (
    TERMINAL_STATUSES,
    Batch,
    DefinitionRow,
    EventRow,
    EventStore,
    RunRow,
    ScheduleRow,
)
from .duckdb_store import DuckDBStore
from .writer import Writer

__all__ = ["TERMINAL_STATUSES", "Batch", "DefinitionRow", "DuckDBStore", "EventRow",
           "EventStore", "RunRow", "ScheduleRow", "Writer"]
