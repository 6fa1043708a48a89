"""The notebook surface: the IPython extension, its magics and the rich displays."""

from ..displays import views
from .display import EventList, QueryResult, RunList, ScheduleList, run_html
from .extension import load, unload
from .magics import WorkflowMagics
from .sql import store_connection
from .timeline_widget import TimelineWidget

views.register("timeline", lambda run_id, engine: TimelineWidget(run_id, engine=engine))
views.register("run_html", run_html)
views.register("schedules_html", lambda described: ScheduleList(described)._repr_html_())

__all__ = ["EventList", "QueryResult", "RunList", "WorkflowMagics", "load", "store_connection",
           "unload"]
