"""A service stored by the development versions before lanes loads, tells
what to do, and moves to this version's structures keeping every job."""
import json
import os
import shutil

import pytest
import transaction

from lovely import remotetask
from lovely.remotetask import legacy
from lovely.remotetask.exceptions import RemoteTaskError

HERE = os.path.join(os.path.dirname(__file__), 'data')


@pytest.fixture
def old(tmp_path):
    """The database a development version made (tests/data/dev-layout.fs,
    with what it held in dev-layout.json), and the service in it."""
    path = os.path.join(tmp_path, 'Data.fs')
    shutil.copy(os.path.join(HERE, 'dev-layout.fs'), path)
    with open(os.path.join(HERE, 'dev-layout.json')) as f:
        info = json.load(f)
    remotetask.provideTask(lambda input: input, name='echo')
    db = remotetask.openDatabase(path)
    connection = db.open()
    service = remotetask.getApplicationRoot(connection)['svc']
    yield service, info
    transaction.abort()
    connection.close()
    db.close()


def test_a_service_of_the_old_layout_says_to_migrate(old):
    service, info = old
    with pytest.raises(RemoteTaskError, match='must be migrated: start a '
                       'worker for it, or run "remotetask migrate'):
        service.add('echo')


def test_migration_keeps_every_job_where_it_was(old):
    service, info = old
    assert legacy.migrate(service) == len(info['statuses'])
    transaction.commit()
    assert legacy.migrate(service) == 0       # once is enough
    statuses = {str(jobid): service.getStatus(jobid)
                for jobid in service.jobs}
    assert statuses == info['statuses']
    assert sum(service.statusCounts().values()) == len(info['statuses'])
    for status in set(info['statuses'].values()):
        listed = sorted(str(job.id) for job in service.jobsPage(
            status, limit=50)[0])
        assert listed == sorted(j for j, s in info['statuses'].items()
                                if s == status), status
    # Queued jobs keep their order, a keyed job its key, a running job its
    # worker and progress.
    queued = [job.id for job in service.jobsPage('queued')[0]]
    assert queued == info['queued'][1:] + [info['keyed']]
    assert service.add('echo', key='k1') == info['keyed']
    assert service.getProgress(info['held'])['message'] == 'half'
    assert service.heldBy('w1') == [info['held']]
    # And the service works on: the delayed job is scheduled, and jobs run.
    assert service.jobs[info['delayed']].scheduledFor is not None
    service.recordOutcome(remotetask.run.Outcome(info['held'], 1,
                                                 output='done'))
    service.process()
    assert service.statusCounts()['completed'] >= 4
    transaction.commit()


def test_workers_and_the_migrate_command_migrate(tmp_path):
    from servers import runCommand
    path = os.path.join(tmp_path, 'Data.fs')
    shutil.copy(os.path.join(HERE, 'dev-layout.fs'), path)
    done = runCommand('migrate', '--db', path)
    assert (done.returncode, done.stdout) == (0, 'migrated: svc (11 jobs)\n')
    again = runCommand('migrate', '--db', path)
    assert again.stdout == 'nothing to migrate\n'
    shutil.copy(os.path.join(HERE, 'dev-layout.fs'), path)
    db = remotetask.openDatabase(path)
    try:
        from lovely.remotetask import autostart
        assert autostart.bootstrap(db, '@svc') == ['svc']
        remotetask.processing.stopAll(timeout=10)
        connection = db.open()
        service = remotetask.getApplicationRoot(connection)['svc']
        assert not service._legacyLayout
        connection.close()
    finally:
        db.close()
