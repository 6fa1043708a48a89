"""The event store: schema, DuckDB implementation and the group-committing writer."""

from .base import (
    Batch,
    DefinitionRow,
    EventRow,
    EventStore,
    InboxRow,
    RunRow,
    ScheduleRow,
    SharedStore,
)
from .duckdb_store import DuckDBStore
from .writer import Writer

__all__ = ["Batch", "DefinitionRow", "DuckDBStore", "EventRow",
           "EventStore", "InboxRow", "RunRow", "ScheduleRow", "SharedStore", "Writer"]
