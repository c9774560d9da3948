"""Helpers for testing code that uses a task service.

`TaskServiceStub` stands in for a service without a registry of tasks or a
database; `setUp`/`tearDown` leave the component registry, the processing
threads and the thread's transaction as they found them; `waitUntil`
replaces sleeps.
"""
import logging
import time
from typing import Callable, Dict, Optional

import transaction
import zope.component.testing
from ZODB import DB

from lovely.remotetask.runtime import processing
from lovely.remotetask.hosts.database import MemoryStorage
from lovely.remotetask.service import TaskService
from lovely.remotetask.task import SimpleTask


class TaskServiceStub(TaskService):
    """A task service with its own tasks, given as plain functions.

    With ``eager=True`` every job runs as soon as it is added, the way a
    host's tests usually want; otherwise call `process()`.
    """

    def __init__(self, tasks: Optional[Dict[str, Callable]] = None,
                 eager: bool = False) -> None:
        super().__init__()
        self.tasks = {name: SimpleTask(func)
                      for name, func in (tasks or {}).items()}
        self.eager = eager

    def getAvailableTasks(self) -> dict:
        return dict(self.tasks)

    def queryTask(self, name: str):
        return self.tasks.get(name)

    def add(self, task, input=None, startLater=False, **options):
        jobid = super().add(task, input, startLater, **options)
        if self.eager and not startLater:
            self.process()
        return jobid

    def startJob(self, jobid):
        started = super().startJob(jobid)
        if self.eager and started:
            self.process()
        return started


def memoryDatabase() -> DB:
    """A new database in memory, that resolves conflicts."""
    return DB(MemoryStorage())


def setUp(test=None) -> None:
    transaction.abort()
    zope.component.testing.setUp(test)


def tearDown(test=None) -> None:
    processing.stopAll(timeout=10)
    transaction.abort()
    zope.component.testing.tearDown(test)


def waitUntil(condition: Callable[[], bool], timeout: float = 10,
              interval: float = 0.001) -> None:
    """Return once `condition()` is true; raise AssertionError at `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f'not true within {timeout} s: {condition}')
        time.sleep(interval)


class LogCapture(logging.Handler):
    """Collects the records of a logger; prints them one per line."""

    def __init__(self, name: str = 'lovely.remotetask',
                 level: int = logging.INFO) -> None:
        super().__init__(level)
        self.records = []
        self.logger = logging.getLogger(name)
        self.logger.addHandler(self)
        self._oldLevel = self.logger.level
        self.logger.setLevel(level)

    def emit(self, record) -> None:
        self.records.append(record)

    def clear(self) -> None:
        self.records.clear()

    def uninstall(self) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self._oldLevel)

    def __str__(self) -> str:
        return '\n'.join(f'{r.levelname} {r.getMessage()}'
                         for r in self.records)
