"""The seed's import path of jobs (they live in `store.jobs`)."""
from lovely.remotetask.store.jobs import CronJob, Job

__all__ = ['CronJob', 'Job']
