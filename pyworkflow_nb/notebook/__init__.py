"""The notebook surface: the IPython extension, its magics and the rich displays."""

from .display import EventList, QueryResult, RunList
from .extension import load, unload
from .magics import WorkflowMagics
from .sql import store_connection

__all__ = ["EventList", "QueryResult", "RunList", "WorkflowMagics", "load", "store_connection",
           "unload"]
