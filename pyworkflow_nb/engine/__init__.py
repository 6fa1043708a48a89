"""The runtime: runs, replay, timers, clock and recovery."""

from .clock import Clock, VirtualClock
from .engine import Engine
from .run import Run

__all__ = ["Clock", "Engine", "Run", "VirtualClock"]
