"""The worker command: bad input, and a clean stop on SIGTERM."""
import os
import signal

import transaction

from lovely import remotetask
from servers import Worker, waitFor
from servers import runCommand as run


def oneLine(result):
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_unreachable_database():
    line = oneLine(run('worker', '--db', 'zeo://127.0.0.1:1',
                       '--services', '@svc', '--connect-timeout', '1'))
    assert line.startswith("remotetask: cannot open database "
                           "'zeo://127.0.0.1:1': ")
    assert 'ClientDisconnected' in line


def test_malformed_database_uri():
    line = oneLine(run('worker', '--db', 'nosuch://x', '--services', '@svc'))
    assert line == ("remotetask: cannot use database URI 'nosuch://x': "
                    "NoResolverForScheme: 'No resolver found for uri: "
                    "nosuch://x'")


def test_tasks_module_that_fails_to_import(fileUri):
    line = oneLine(run('worker', '--db', fileUri, '--services', '@svc',
                       '--tasks', 'no.such.module'))
    assert line == ("remotetask: cannot import tasks module 'no.such.module'"
                    ": ModuleNotFoundError: No module named 'no'")


def test_directive_that_matches_nothing_lists_the_services(fileUri):
    result = run('worker', '--db', fileUri, '--services', '*@nothing')
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "remotetask: no service matches '*@nothing'; the database has: "
        "svc, site1.mail")


def test_missing_arguments_are_named():
    result = run('worker', '--services', '@svc')
    assert result.returncode == 2
    assert 'the following arguments are required: --db' in result.stderr


def test_sigterm_finishes_the_job_in_hand(fileUri, tmp_path):
    db = remotetask.openDatabase(fileUri)
    connection = db.open()
    service = remotetask.getApplicationRoot(connection)['svc']
    from workerapp import tasks
    import zope.component
    zope.component.provideUtility(tasks.Append(), name='append')
    path = os.path.join(tmp_path, 'ran.txt')
    jobid = service.add('append', {'path': path, 'delay': 1.0})
    later = service.add('append', {'path': path})
    transaction.commit()
    connection.close()
    db.close()   # a FileStorage is for one process at a time

    worker = Worker(str(tmp_path), fileUri, '--services', '@svc')
    waitFor(lambda: os.path.exists(path))
    worker.signal(signal.SIGTERM)
    assert worker.stop() == 0
    db = remotetask.openDatabase(fileUri)
    try:
        service = remotetask.getApplicationRoot(db.open())['svc']
        assert service.getStatus(jobid) == 'completed'
        assert service.getStatus(later) == 'queued'
        assert service.getWorkers() == []
    finally:
        db.close()
