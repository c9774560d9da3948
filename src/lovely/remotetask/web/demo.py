"""What ``remotetask serve --demo`` shows a new user: a service with work.

Demo tasks: ``echo`` returns its input, ``sleep`` runs for a while (its
input in seconds, 5 by default), ``fail`` fails with a message, and
``wordcount`` counts the words of a text.  ``sleep`` has a detail renderer
of its own, to show how a task customises its cell in the jobs table.
"""
import time

import transaction

from lovely.remotetask.hosts.folder import getApplicationRoot
from lovely.remotetask.service import TaskService
from lovely.remotetask.task import TaskError, provideTask
from lovely.remotetask.web.detail import provideDetail

SERVICE = 'demo'
#: The longest a demo ``sleep`` job runs.
MAX_SLEEP = 60


def echo(input):
    return input


def sleep(input):
    seconds = 5 if input is None else input
    if not isinstance(seconds, (int, float)) or not 0 <= seconds <= MAX_SLEEP:
        raise TaskError(f'sleep takes 0 to {MAX_SLEEP} seconds, not {input!r}')
    time.sleep(seconds)
    return f'slept {seconds} s'


def fail(input):
    raise TaskError(f'failed on purpose (input {input!r})')


def wordcount(input):
    if not isinstance(input, str):
        raise TaskError('wordcount takes a text')
    return len(input.split())


def sleepDetail(job, service):
    seconds = 5 if job.input is None else job.input
    if job.status == 'processing':
        return f'sleeping {seconds} s since it started'
    if job.output is not None:
        return job.output
    return job.error or f'will sleep {seconds} s'


def registerTasks() -> None:
    for func in (echo, sleep, fail, wordcount):
        provideTask(func)
    provideDetail(sleepDetail, task='sleep')


def setUp(db, rootKey: str) -> str:
    """Make the demo service, with a few jobs and a cron job, unless it is
    there; return its path."""
    tm = transaction.TransactionManager()
    connection = db.open(transaction_manager=tm)
    try:
        tm.begin()
        root = getApplicationRoot(connection, rootKey, create=True)
        if SERVICE not in root:
            service = root[SERVICE] = TaskService()
            service.add('echo', {'hello': 'world'})
            service.add('fail', 'an example')
            service.add('sleep', 10)
            service.add('wordcount', 'the quick brown fox', startLater=True)
            service.addCronJob('echo', 'every minute', cron='* * * * *')
        tm.commit()
    finally:
        tm.abort()
        connection.close()
    return SERVICE
