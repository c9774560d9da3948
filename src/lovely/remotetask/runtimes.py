"""The run times of the tasks this process ran, for `metrics`: kept apart
from it so that running a job needs nothing of how metrics are read."""
try:
    import prometheus_client
except ImportError:   # pragma: no cover - the package is optional
    prometheus_client = None

if prometheus_client is not None:
    RUN_SECONDS = prometheus_client.Histogram(
        'remotetask_task_run_seconds', 'Seconds a task took to run, by task',
        ['task'])
else:   # pragma: no cover
    RUN_SECONDS = None


def observeRun(task: str, seconds: float) -> None:
    """Count a run of `task` that took `seconds` (nothing without
    prometheus_client)."""
    if RUN_SECONDS is not None:
        RUN_SECONDS.labels(task=task).observe(seconds)
