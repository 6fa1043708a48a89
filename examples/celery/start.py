"""Start a run whose steps execute in the Celery workers, and print its result.

The run itself (its timers, retries and history) lives in this process's engine and store
(PYWORKFLOW_NB_STORE, default .pyworkflow_nb/store.duckdb): kill this script and run it again
with the same run id, and it resumes without redoing a finished step.
"""

from __future__ import annotations

import sys

from celery_app import app
from flows import report

import pyworkflow_nb as pw
import pyworkflow_nb.celery

pyworkflow_nb.celery.use(app)
tries_file = sys.argv[1] if len(sys.argv) > 1 else "tries.txt"
print(pw.run(report, [1, 2, 3, 4], tries_file, run_id="report-1"))
pw.shutdown()
