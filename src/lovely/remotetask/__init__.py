"""A persistent, transactional task service on ZODB.

A job's life, one place for each step (docs/states.rst walks it):
`service` adds, starts, cancels and retries jobs; `placement` owns where
each job is and so its status; `protocol` claims, records and gives back
(the worker protocol, `interfaces.IWorkerProtocol`); `run` calls the task;
`session` holds a processor's transactions and `processor` its loop;
`leasekeeper` promotes due jobs, takes back the jobs of dead workers and
expires old ones; `listing` lists and counts.  What is stored: `lanes`
(each writer's own), `queue` (chains of entries), `jobmap` (jobs by id),
`registry`, `workers`; pure arithmetic in `schedule`, `cron`, `retry` and
`merge`.  The tools: `cli` (the ``remotetask`` command, a module per
group of commands); `locate` finds services wherever a database keeps
them (with `paths` and `containers`); `web` is the HTTP API and the
dashboard.
"""
from lovely.remotetask import interfaces
from lovely.remotetask.exceptions import (
    InvalidArgumentError, JobStateError, PackBusyError, RemoteTaskError,
    ScheduleError, TaskError, UnknownJobError, UnknownTaskError,
    UnstorableError)
from lovely.remotetask.database import DatabaseError, openDatabase
from lovely.remotetask.folder import Folder, getApplicationRoot
from lovely.remotetask.processor import MultiProcessor, SimpleProcessor
from lovely.remotetask.service import TaskService
from lovely.remotetask.task import SimpleTask, provideTask

__all__ = [
    'DatabaseError', 'Folder', 'InvalidArgumentError', 'JobStateError',
    'MultiProcessor', 'PackBusyError', 'RemoteTaskError',
    'ScheduleError', 'SimpleProcessor', 'SimpleTask', 'TaskError',
    'TaskService', 'UnknownJobError', 'UnknownTaskError', 'UnstorableError',
    'getApplicationRoot', 'interfaces', 'openDatabase', 'provideTask',
]
