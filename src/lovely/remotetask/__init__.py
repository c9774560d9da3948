"""A persistent, transactional task service on ZODB."""
from lovely.remotetask import interfaces
from lovely.remotetask.exceptions import (
    InvalidArgumentError, JobStateError, RemoteTaskError, ScheduleError,
    TaskError, UnknownJobError, UnknownTaskError, UnstorableError)
from lovely.remotetask.database import DatabaseError, openDatabase
from lovely.remotetask.folder import Folder, getApplicationRoot
from lovely.remotetask.processor import MultiProcessor, SimpleProcessor
from lovely.remotetask.service import TaskService
from lovely.remotetask.task import SimpleTask, provideTask

__all__ = [
    'DatabaseError', 'Folder', 'InvalidArgumentError', 'JobStateError',
    'MultiProcessor', 'RemoteTaskError',
    'ScheduleError', 'SimpleProcessor', 'SimpleTask', 'TaskError',
    'TaskService', 'UnknownJobError', 'UnknownTaskError', 'UnstorableError',
    'getApplicationRoot', 'interfaces', 'openDatabase', 'provideTask',
]
