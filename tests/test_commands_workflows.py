"""The commands on workflows, batches and queues (issues 27 and 28), and
the status 'waiting' in the others."""
import json
import subprocess

import pytest
import transaction

from lovely import remotetask
from lovely.remotetask import Workflow
from lovely.remotetask.cli import main
from lovely.remotetask.hosts.locate import findService


def echo(input):
    return input


@pytest.fixture(autouse=True)
def tasks():
    remotetask.provideTask(echo)


@pytest.fixture
def command(capsys, fileUri):
    """`remotetask NAME --db URI --service svc ARGS` in this process."""
    def call(name, *args):
        args = [name, '--db', fileUri, '--service', 'svc'] + [
            str(arg) for arg in args]
        code = main(args)
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)
    return call


@pytest.fixture
def changing(fileUri):
    """`with changing() as service:` the service svc, committed at the
    end, the database closed for the command to open."""
    import contextlib

    @contextlib.contextmanager
    def change():
        db = remotetask.openDatabase(fileUri)
        try:
            connection = db.open()
            root = remotetask.getApplicationRoot(connection)
            yield findService(root, 'svc').service
            transaction.commit()
            connection.close()
        finally:
            db.close()
    return change


def addChain(service):
    workflow = Workflow('nightly')
    workflow.chain(('fetch', 'echo', 1), ('build', 'echo', 2),
                   ('publish', 'echo', 3))
    return service.addWorkflow(workflow)


def test_jobs_lists_waiting_jobs_and_show_says_what_they_wait_for(
        command, changing):
    with changing() as service:
        ids = addChain(service)
    listed = command('jobs', '--status', 'waiting')
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[:2] for line in listed.stdout.splitlines()[1:]] == [
        [str(ids['build']), 'waiting'], [str(ids['publish']), 'waiting']]
    shown = command('show', ids['publish'])
    lines = dict(line.split(':', 1) for line in shown.stdout.splitlines()
                 if ':' in line)
    assert lines['status'].strip() == 'waiting'
    assert lines['workflow'].strip() == f'{ids["fetch"]} (nightly)'
    assert lines['waits for'].strip() == (
        f'{ids["build"]} (if one fails: cancel)')
    data = json.loads(command('show', ids['publish'], '--json').stdout)
    assert (data['waitsFor'], data['workflow']) == ([ids['build']],
                                                    ids['fetch'])


def test_workflow_reads_without_a_lock_and_writes_with_one(
        command, changing, fileUri):
    with changing() as service:
        ids = addChain(service)
        alone = service.add('echo', 'alone')
    held = remotetask.openDatabase(fileUri)      # as a worker holds it
    try:
        shown = command('workflow', ids['publish'])
        assert shown.returncode == 0, shown.stderr
        lines = shown.stdout.splitlines()
        assert lines[0] == (f'workflow {ids["fetch"]} (nightly): waiting, '
                            f'1 queued, 2 waiting')
        assert lines[1].split() == ['step', 'id', 'status', 'task', 'waits',
                                    'for', 'error']
        assert lines[3].split() == ['build', str(ids['build']), 'waiting',
                                    'echo', 'fetch']
        refused = command('workflow', ids['publish'], '--cancel')
        assert refused.returncode == 2
        assert 'it is in use by process' in refused.stderr
    finally:
        held.close()
    cancelled = command('workflow', ids['build'], '--cancel', '--json')
    data = json.loads(cancelled.stdout)
    assert data['cancelled'] == [ids['fetch']]
    assert data['workflow']['status'] == 'cancelled'
    with changing() as service:
        assert service.getStatus(ids['publish']) == 'cancelled'
    retried = command('workflow', ids['build'], '--retry')
    assert retried.stdout.splitlines()[0] == f'retried 1 step: {ids["fetch"]}'
    for args, message in [
            ((alone,), f'remotetask: job {alone} is in no workflow'),
            ((999,), 'remotetask: no job with id 999'),
            ((alone, '--cancel', '--retry'),
             'remotetask: workflow takes --cancel or --retry, not both')]:
        refused = command('workflow', *args)
        assert (refused.returncode, refused.stderr.strip()) == (2, message)


def test_batch_shows_and_closes(command, changing):
    with changing() as service:
        batchId = service.addBatch(onComplete=('echo', 'done'))
        first = service.add('echo', 1, batch=batchId)
        service.add('echo', 2, batch=batchId)
        service.processNext(jobid=first)
    shown = command('batch', batchId)
    lines = shown.stdout.splitlines()
    assert lines[0] == (f'batch {batchId}: open; 2 jobs, 1 finished: 1 '
                        f'completed, 0 failed')
    assert [line.split() for line in lines[1:]] == [
        ['callback', 'id', 'status'], ['complete', str(batchId), 'waiting']]
    closed = json.loads(command('batch', batchId, '--close',
                                '--json').stdout)
    assert closed['open'] is False
    refused = command('batch', first)
    assert (refused.returncode, refused.stderr.strip()) == (
        2, f'remotetask: there is no batch {first}')


def test_queues_with_their_limits_and_stranded_jobs(command, changing):
    remotetask.provideTask(echo, name='slow', concurrency=1)
    with changing() as service:
        first = service.add('slow', 1, queue='video')
        service.add('slow', 2, queue='video')
        service.registerWorker('w', 60, serves=(('video',), ('slow',)))
        assert [claim.jobid for claim in service.claim('w', 5)] == [first]
        service.add('echo', 3)
    listed = command('queues')
    assert listed.returncode == 0, listed.stderr
    assert [line.split() for line in listed.stdout.splitlines()] == [
        ['queue', 'paused', 'limit', 'queued', 'running', 'held'],
        ['default', 'no', 'none', '1', '0', '0'],
        ['video', 'no', 'none', '1', '1', '1'],
        [],
        ['limit', 'at', 'most', 'rate', 'running', 'held'],
        ['task:slow', '1', '1', '1'],
        '1 jobs of task echo in queue default: no running worker takes '
        'them'.split()]
    data = json.loads(command('queues', '--json').stdout)
    assert data['limits'][0]['scope'] == ['task', 'slow']
    assert data['stranded'] == [dict(queue='default', task='echo',
                                     queued=1)]
    changed = command('queue', 'video', '--pause', '--limit', '3')
    assert changed.stdout.splitlines()[1].split() == [
        'video', 'yes', '3', '1', '1', '1']
    with changing() as service:
        assert [q for q in service.getQueues() if q['name'] == 'video'][0][
            'paused'] is True
    shown = json.loads(command('queue', 'video', '--resume', '--limit',
                               'none', '--json').stdout)
    assert (shown['paused'], shown['limit']) == (False, None)
    refused = command('queue', 'bad name', '--pause')
    assert refused.returncode == 2
    assert refused.stderr.startswith('remotetask: a queue is named by')
