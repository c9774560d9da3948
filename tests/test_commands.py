"""The commands for scripts: add, cron, status, result, cancel, jobs,
clean, on a FileStorage by URI, one process after another."""
import json
import os

import pytest
import transaction

from lovely import remotetask
from servers import runCommand as run


@pytest.fixture
def uri(fileUri):
    return fileUri


def command(uri, name, *args):
    return run(name, '--db', uri, '--service', 'site1.mail',
               '--tasks', 'workerapp.tasks', *args)


def processAll(uri):
    from workerapp import tasks
    import zope.component
    zope.component.provideUtility(tasks.Append(), name='append')
    db = remotetask.openDatabase(uri)
    try:
        connection = db.open()
        remotetask.getApplicationRoot(connection)['site1']['mail'].process()
        transaction.commit()
        connection.close()
    finally:
        db.close()


def test_add_status_result(uri, tmp_path):
    path = os.path.join(tmp_path, 'ran.txt')
    added = command(uri, 'add', 'append', json.dumps({'path': path}))
    assert added.returncode == 0, added.stderr
    jobid = int(added.stdout)
    assert command(uri, 'status', str(jobid)).stdout == 'queued\n'
    processAll(uri)
    data = json.loads(command(uri, 'status', str(jobid), '--json').stdout)
    assert (data['id'], data['status'], data['task']) == \
        (jobid, 'completed', 'append')
    result = command(uri, 'result', str(jobid), '--wait', '5')
    assert result.returncode == 0
    assert int(result.stdout) > 0          # the pid that ran it


def test_jobs_cancel_clean(uri):
    ids = [int(command(uri, 'add', 'append', '{}', '--start-later').stdout)
           for _ in range(3)]
    listed = command(uri, 'jobs', '--json', '--limit', '2')
    page = json.loads(listed.stdout)
    assert [job['id'] for job in page['jobs']] == ids[::-1][:2]  # newest
    assert page['next'] is not None
    rest = command(uri, 'jobs', '--json', '--after', page['next'])
    assert [job['id'] for job in json.loads(rest.stdout)['jobs']] == \
        ids[:1]
    assert command(uri, 'cancel', str(ids[0])).stdout == 'cancelled\n'
    cleaned = command(uri, 'clean', '--json')
    assert json.loads(cleaned.stdout) == {'removed': 1}


def test_cron(uri):
    added = command(uri, 'cron', 'append', '{}', '--cron', '*/5 * * * *',
                    '--timezone', 'Europe/Vienna', '--json')
    jobid = json.loads(added.stdout)['id']
    data = json.loads(command(uri, 'status', str(jobid), '--json').stdout)
    assert data['schedule']['cron'] == '*/5 * * * *'
    assert data['status'] == 'cronjob'


@pytest.mark.parametrize('args, message', [
    (('add', 'nosuch'), "remotetask: no task named 'nosuch' is registered"),
    (('add', 'append', '{bad'), 'remotetask: the input is not JSON: '),
    (('add', 'append', '--priority', '500'),
     'remotetask: priority must be an int from -100 to 100, not 500'),
    (('status', '12345'), 'remotetask: no job with id 12345'),
    (('cron', 'append', '--minute', '61'),
     'remotetask: minute value 61 is out of range 0-59'),
    (('cron', 'append', '--cron', '0 0 30 2 *'),
     "remotetask: cron expression '0 0 30 2 *' never fires"),
])
def test_bad_input_is_one_line(uri, args, message):
    result = command(uri, *args)
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_service_lists_the_services(uri):
    result = run('jobs', '--db', uri, '--service', 'nope')
    assert result.returncode == 2
    assert result.stderr.strip() == \
        "remotetask: no service 'nope'; the database has: svc, site1.mail"
