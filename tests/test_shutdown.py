"""A host process that exits, normally or on SIGTERM, stops its processing
and gives back the jobs in hand: none waits out its lease."""
import os
import signal
import subprocess
import sys

import pytest
import transaction

import servers
from lovely import remotetask
from lovely.remotetask.runtime import processing
from lovely.remotetask.hosts.database import openDatabase
from lovely.remotetask.interfaces import ITask


@pytest.fixture(scope='module')
def zeo(tmp_path_factory):
    server = servers.ZEOServer(str(tmp_path_factory.mktemp('zeo')))
    server.start()
    yield server
    server.close()


@pytest.fixture
def client(zeo):
    db = openDatabase(zeo.uri)
    tm = transaction.TransactionManager()
    connection = db.open(transaction_manager=tm)
    yield tm, connection
    tm.abort()
    connection.close()
    db.close()


def hostProcess(zeo, name, mode, grace):
    env = dict(os.environ, PYTHONPATH=servers.HERE + os.pathsep +
               os.environ.get('PYTHONPATH', ''))
    process = subprocess.Popen(
        [sys.executable, '-m', 'hostapps.exiting', zeo.uri, name, mode,
         str(grace)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env)
    assert process.stdout.readline() == 'processing\n', process.stderr.read()
    return process


def newService(tm, connection, name, *jobs):
    service = connection.root()[name] = remotetask.TaskService()
    # The host's task is unknown here: add() checks the name.
    remotetask.provideTask(lambda input: None, name='hold')
    jobids = [service.add('hold', job) for job in jobs]
    tm.commit()
    return service, jobids


def unprovideHold():
    import zope.component
    zope.component.getGlobalSiteManager().unregisterUtility(
        provided=ITask, name='hold')


def statusOf(tm, service, jobid):
    tm.begin()
    return service.getStatus(jobid)


def started(path):
    return os.path.exists(path) and 'start' in open(path).read()


@pytest.mark.parametrize('mode', ['sigterm', 'stdin', 'hosthandler'])
def test_exit_gives_back_the_job_in_hand(zeo, client, tmp_path, mode):
    tm, connection = client
    path = str(tmp_path / 'lines')
    service, (jobid,) = newService(tm, connection, f'svc-{mode}',
                                   dict(path=path, seconds=3600))
    unprovideHold()
    host = hostProcess(zeo, f'svc-{mode}', mode, grace=0.2)
    servers.waitFor(lambda: started(path), timeout=30)
    if mode == 'stdin':
        host.stdin.close()
    else:
        host.send_signal(signal.SIGTERM)
    code = host.wait(30)
    output = host.stdout.read()
    # Our SIGTERM handler exits as the signal would have (128 + 15); a host
    # that handles it, or ends main, exits as it likes.
    assert code == (128 + signal.SIGTERM if mode == 'sigterm' else 0)
    if mode == 'hosthandler':
        assert output.startswith('host handler')
    # Given back at once: queued again, the attempt counted, and the
    # worker forgotten; no lease (60 s) to wait out.
    assert statusOf(tm, service, jobid) == 'queued'
    job = service.jobs[jobid]
    assert job.attempts == 1
    assert 'the process stopped during attempt 1' in job.error
    assert service.getWorkers() == []
    assert 'job %s given back' % jobid in host.stderr.read()


def test_a_job_that_ends_within_the_grace_completes(zeo, client, tmp_path):
    tm, connection = client
    path = str(tmp_path / 'lines')
    service, (first, second) = newService(
        tm, connection, 'svc-grace', dict(path=path, seconds=1),
        dict(path=path, seconds=1))
    unprovideHold()
    host = hostProcess(zeo, 'svc-grace', 'sigterm', grace=30)
    servers.waitFor(lambda: started(path), timeout=30)
    host.send_signal(signal.SIGTERM)
    assert host.wait(30) == 128 + signal.SIGTERM
    # The job in hand finished and was recorded; the next was never
    # claimed, so it waits as it did.
    assert statusOf(tm, service, first) == 'completed'
    assert service.getResult(first) == 'held'
    assert service.getStatus(second) == 'queued'
    assert service.jobs[second].attempts == 0
    assert service.getWorkers() == []


def test_the_hook_keeps_a_handler_of_the_host(db):
    # In this process (pytest's main thread) a handler is in place.
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    hooked = processing._hooked
    try:
        processing._hooked = False
        processing._installExitHooks()
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        processing._hooked = hooked
        signal.signal(signal.SIGTERM, previous)
