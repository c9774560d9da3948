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
