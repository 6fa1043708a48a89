"""The shape of one event row, as the store holds it and every layer above reads it."""

from __future__ import annotations

# (run_id, seq, ts, type, step, attempt, data_json): ts is epoch seconds.
EventRow = tuple[str, int, float, str, "str | None", "int | None", "str | None"]
