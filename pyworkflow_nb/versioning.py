"""Changing a workflow's code under runs in flight: ``pw.patched``, ``deprecate_patch``,
``get_version``.

A run follows the code path it recorded. Put a change behind ``if pw.patched("change-id"):``
and keep the old code in the ``else`` branch: runs that reach that point for the first time
take the new branch (and the history records that they did), while runs that passed it before
the change replay the old one. Once no run needs the old branch, replace the ``if`` with
``pw.deprecate_patch("change-id")``; later, remove that too.
"""

from __future__ import annotations

from .context import require_run
from .errors import InvalidInput
from .history.vocabulary import DEFAULT_VERSION

__all__ = ["DEFAULT_VERSION", "deprecate_patch", "get_version", "patched"]


def patched(change_id: str) -> bool:
    """Whether this run takes the code change ``change_id``.

    True for a run that reaches this call live (the first time is recorded), and for a run
    whose history recorded it; False while replaying a run that passed here before the change.
    The answer stays the same for the rest of the run.
    """
    return _version("pw.patched()", change_id, 1) >= 1


def deprecate_patch(change_id: str) -> None:
    """Mark ``change_id`` as taken by every run still going; the old branch can go.

    Runs that recorded ``pw.patched(change_id)`` replay unchanged, and so do runs from
    before (they take the new code: remove the old branch only once none is left).
    """
    _version("pw.deprecate_patch()", change_id, 1, deprecated=True)


def get_version(change_id: str, min_supported: int, max_supported: int) -> int:
    """The version of ``change_id`` this run follows, between the two bounds.

    A run that reaches the call live records ``max_supported``; a run that passed it before
    the change exists gets ``pw.DEFAULT_VERSION`` (-1). A recorded version outside the bounds
    fails the run with ``NonDeterminismError``: keep a branch for each version a run may hold.
    """
    for label, bound in (("min_supported", min_supported), ("max_supported", max_supported)):
        if isinstance(bound, bool) or not isinstance(bound, int):
            raise InvalidInput(f"pw.get_version({change_id!r}): {label} must be an int, "
                               f"got {bound!r}")
    if min_supported > max_supported:
        raise InvalidInput(f"pw.get_version({change_id!r}): min_supported ({min_supported}) "
                           f"is above max_supported ({max_supported})")
    if max_supported < 1:
        raise InvalidInput(f"pw.get_version({change_id!r}): max_supported must be >= 1 (the "
                           f"version new runs record), got {max_supported}")
    return _version("pw.get_version()", change_id, max_supported, oldest=min_supported)


def _version(primitive: str, change_id: str, newest: int, *, oldest: int | None = None,
             deprecated: bool = False) -> int:
    if not isinstance(change_id, str) or not change_id.strip():
        raise InvalidInput(f"{primitive} needs a change id string such as \"retry-emails\", "
                           f"got {change_id!r}")
    return require_run(primitive).version_of(change_id, newest, oldest=oldest,
                                             deprecated=deprecated)
