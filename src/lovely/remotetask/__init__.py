"""A persistent, transactional task service on ZODB.

The package in layers, each knowing only those below it:

- `store`: the persistent structures and their conflict resolution, and
  the one entrance that owns every move of a job, every count, the claim
  rule and the listings' cursors (`store.store`);
- `timing`: pure arithmetic of schedules, cron expressions and retries;
- `runtime`: processors and their loops, the steps of a claimed job on a
  connection of its own, leases, time limits, packing;
- `service`: `TaskService`, the 2009 API over the store;
- `hosts`: where services live and how hosts start them (plain roots,
  `Folder`, Zope, Pyramid, autostart, locating services);
- the faces: the ``remotetask`` command (`cli`) and the Web service
  (`web`).

A job goes add -> intake -> chain -> claim -> run -> record; see
docs/design.rst for the stored objects and docs/states.rst for the life
of a job.
"""
from lovely.remotetask import interfaces
from lovely.remotetask.exceptions import (
    InvalidArgumentError, JobStateError, PackBusyError, RemoteTaskError,
    ScheduleError, TaskError, UndoRefusedError, UnknownJobError,
    UnknownTaskError, UnstorableError)
from lovely.remotetask.hosts.database import DatabaseError, openDatabase
from lovely.remotetask.hosts.folder import Folder, getApplicationRoot
from lovely.remotetask.runtime.processor import MultiProcessor, SimpleProcessor
from lovely.remotetask.service import TaskService, workflows
from lovely.remotetask.service.workflows import Workflow
from lovely.remotetask.task import SimpleTask, provideTask
from lovely.remotetask.timing.retry import RetryPolicy, RetryTask

__all__ = [
    'DatabaseError', 'Folder', 'InvalidArgumentError', 'JobStateError',
    'MultiProcessor', 'PackBusyError', 'RemoteTaskError', 'RetryPolicy',
    'RetryTask', 'ScheduleError', 'SimpleProcessor', 'SimpleTask', 'TaskError',
    'TaskService', 'UndoRefusedError', 'UnknownJobError', 'UnknownTaskError',
    'UnstorableError',
    'Workflow',
    'getApplicationRoot', 'interfaces', 'openDatabase', 'provideTask',
    'workflows',
]
