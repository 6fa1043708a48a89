"""The notebook surface: the IPython extension, its magics and the rich displays."""

from ..displays import views
from .display import EventList, QueryResult, RunList, ScheduleList, html_table, run_html, text_table
from .extension import load, unload
from .magics import WorkflowMagics
from .sql import store_connection
from .timeline_widget import TimelineWidget

views.register("timeline", lambda run_id, engine: TimelineWidget(run_id, engine=engine))
views.register("run_html", run_html)
views.register("schedules_html", lambda described: ScheduleList(described)._repr_html_())
views.register("html_table", html_table)
views.register("text_table", text_table)

__all__ = ["EventList", "QueryResult", "RunList", "WorkflowMagics", "load", "store_connection",
           "unload"]
