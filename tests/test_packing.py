"""Packing (issue 17): a finished job leaves the disk after its retention;
processors pack by the service's settings, one pack at a time whichever
process wants one; ``remotetask pack`` packs from the command line."""
import json
import os
import re
import threading
import time
import uuid

import pytest
import transaction
import zope.component
from BTrees.OOBTree import OOBTree
from persistent.mapping import PersistentMapping
from ZODB import DB
from ZODB.FileStorage import FileStorage
from ZODB.utils import u64

from lovely import remotetask
from lovely.remotetask import metrics
from lovely.remotetask.runtime import packing
from lovely.remotetask.cli import main
from lovely.remotetask.defaults import PACK_KEEP_MIN
from lovely.remotetask.exceptions import InvalidArgumentError, PackBusyError
from lovely.remotetask.runtime.attempt import Outcome
from lovely.remotetask.testing import LogCapture, waitUntil
from servers import (
    POSTGRES, PostgresDatabase, Worker, ZEOServer, postgresReachable,
    runCommand, runSeconds, waitFor)


@pytest.fixture(autouse=True)
def echo():
    remotetask.provideTask(lambda input: input, name='echo')


def newService(connection, name='svc'):
    root = remotetask.getApplicationRoot(connection, create=True)
    root[name] = remotetask.TaskService()
    connection.transaction_manager.commit()
    return root[name]


def finish(service, count, input=None):
    """Add `count` jobs, run them in this transaction, commit."""
    ids = [service.add('echo', input) for _ in range(count)]
    service.process()
    transaction.commit()
    return ids


def onDisk(path, marker: str) -> bool:
    while True:
        try:
            with open(path, 'rb') as file:
                return marker.encode() in file.read()
        except FileNotFoundError:
            pass  # a pack is between renaming Data.fs and its successor


def test_pack_settings_are_checked_and_leave_the_service_alone(db):
    connection = db.open()
    service = newService(connection)
    assert (service.packEvery, service.packKeep) == (None, 600)
    for name, bad in [('packEvery', 0), ('packEvery', -5),
                      ('packEvery', 'hourly'), ('packEvery', float('nan')),
                      ('packEvery', True), ('packKeep', -1),
                      ('packKeep', 0), ('packKeep', PACK_KEEP_MIN - 0.1),
                      ('packKeep', None), ('packKeep', float('inf'))]:
        with pytest.raises(InvalidArgumentError, match=name):
            setattr(service, name, bad)
    assert (service.packEvery, service.packKeep) == (None, 600)
    serial = service._p_serial
    service.packEvery, service.packKeep = 3600, PACK_KEEP_MIN
    transaction.commit()
    assert service._p_serial == serial        # the settings object changed
    assert service._settings._p_serial != serial
    connection.close()


def test_pack_drops_history_and_removed_jobs_and_says_how_it_went(db):
    connection = db.open()
    service = newService(connection)
    empty = db.storage.getSize()
    for _ in range(20):
        finish(service, 10)
    assert service.clean() == 200
    transaction.commit()
    before = db.storage.getSize()
    # As it will be once the least history a pack keeps has gone by.
    result = packing.pack(db, now=time.time() + PACK_KEEP_MIN)
    assert result.error is None and result.expired == 0
    assert before < result.sizeBefore < before + 2000   # + the lease
    # What the jobs left: a fifth of what they wrote, at most.
    assert result.sizeAfter - empty < (before - empty) / 5
    transaction.begin()
    record = packing.lastPack(connection)
    assert record.holder is None and record.packs == 1
    assert record.sizeAfter == result.sizeAfter
    assert record.packTime == pytest.approx(result.started)
    assert record.finished >= result.started + result.seconds
    connection.close()


def test_keep_keeps_the_history_of_the_last_seconds(db):
    connection = db.open()
    service = newService(connection)
    empty = db.storage.getSize()
    for _ in range(20):
        finish(service, 5)
    kept = packing.pack(db, keep=3600)
    assert kept.sizeAfter > 0.9 * kept.sizeBefore
    dropped = packing.pack(db, now=time.time() + PACK_KEEP_MIN)
    assert dropped.sizeAfter - empty < 0.8 * (dropped.sizeBefore - empty)
    connection.close()


def test_a_pack_keeps_the_least_history_whatever_it_is_asked(db):
    connection = db.open()
    service = newService(connection)
    finish(service, 5)
    size = db.storage.getSize()
    for keep in (0, PACK_KEEP_MIN - 1, -1, float('nan'), 'all'):
        with pytest.raises(InvalidArgumentError,
                           match=f'keep must be a number of seconds, at '
                                 f'least {PACK_KEEP_MIN:g}'):
            packing.pack(db, keep)
    assert packing.lastPack(connection) is None
    assert db.storage.getSize() == size       # nothing was done
    result = packing.pack(db)
    assert result.packTime == pytest.approx(time.time() - PACK_KEEP_MIN,
                                            abs=5)
    assert result.sizeAfter > 0.9 * result.sizeBefore   # all recent
    connection.close()


def test_a_pack_keeps_the_history_since_the_oldest_running_job(db):
    """A task runs in a transaction that began when its job was claimed:
    the pack keeps what it may need at its commit."""
    connection = db.open()
    service = newService(connection)
    first, second = service.add('echo'), service.add('echo')
    transaction.commit()
    claims = service.claim('w1', limit=2)
    service.jobs[first].started -= 3600      # claimed an hour ago
    transaction.commit()
    started = service.jobs[first].started
    result = packing.pack(db, services=[service._p_oid])
    assert result.packTime == started - PACK_KEEP_MIN
    attempt = {claim.jobid: claim.attempt for claim in claims}[first]
    service.recordOutcome(Outcome(first, attempt, output=1))
    transaction.commit()
    result = packing.pack(db, services=[service._p_oid])
    assert result.packTime == service.jobs[second].started - PACK_KEEP_MIN
    connection.close()


def test_a_finished_job_leaves_the_disk_after_its_retention(tmp_path):
    """The processor's lease keeper expires the job once it is older than
    keepFinished, and packs the database by packEvery: the job's bytes are
    gone from the file, and not before its retention."""
    path = str(tmp_path / 'Data.fs')
    db = DB(FileStorage(path))
    try:
        connection = db.open()
        service = newService(connection)
        service.keepFinished, service.packEvery = 2, 0.2
        service.packKeep = PACK_KEEP_MIN
        marker = f'retained-{uuid.uuid4().hex}'
        jobid = service.add('echo', marker)
        transaction.commit()
        service.startProcessing(leaseTime=0.4)   # a beat every 0.1 s

        def status():
            transaction.begin()
            job = service.jobs.get(jobid)
            return None if job is None else job.status

        waitUntil(lambda: status() == 'completed', timeout=30)
        completed = service.jobs[jobid].completed
        waitUntil(lambda: not onDisk(path, marker), timeout=60,
                  interval=0.05)
        gone = time.time()
        assert gone >= completed + service.keepFinished
        assert status() is None

        def recorded():
            # The pack that emptied the file writes its record after it:
            # the last record may be of the pack before, for a moment.
            transaction.begin()
            record = packing.lastPack(connection)
            return record.packTime >= completed + service.keepFinished
        waitUntil(recorded, timeout=30, interval=0.05)
        record = packing.lastPack(connection)
        assert record.packs >= 1 and record.error is None
        service.stopProcessing(wait=10)
        connection.close()
    finally:
        db.close()


def test_no_pack_without_pack_every(tmp_path):
    db = DB(FileStorage(str(tmp_path / 'Data.fs')))
    try:
        connection = db.open()
        service = newService(connection)
        service.keepFinished = 0
        finish(service, 5)
        processor = remotetask.SimpleProcessor(db, service._p_oid,
                                               leaseTime=0.2)
        from lovely.remotetask.runtime.steps import Station
        with Station(db, service._p_oid, 'w') as session:
            assert not packing.packIfDue(session, processor)
            service.packEvery = 3600
            transaction.commit()
            assert packing.packIfDue(session, processor)
            packing.waitForPack(processor)     # started by it: waits
            assert not packing.packIfDue(session, processor)  # not due
        transaction.begin()
        assert packing.lastPack(connection).packs == 1
        assert service.statusCounts() == {}    # expired before the pack
        connection.close()
    finally:
        db.close()


def test_one_pack_at_a_time_and_a_dead_packers_lease_runs_out(db):
    connection = db.open()
    newService(connection)
    other = packing._Lease(db, 'other packer', leaseTime=1.0)
    other.take()
    with pytest.raises(PackBusyError, match='other packer'):
        packing.pack(db)
    transaction.begin()
    record = packing.lastPack(connection)
    assert record.holder == 'other packer' and record.packs == 0
    # The other packer never renews its lease: it runs out.
    log = LogCapture()
    try:
        waitUntil(lambda: not record.isHeld(time.time()), timeout=10)
        assert packing.pack(db).error is None
        assert 'pack lease of other packer taken over' in str(log)
    finally:
        log.uninstall()
    # Giving back a lease taken over leaves the new holder's record alone.
    other.giveBack(packing.PackResult(0, 0, 0, None, None, 0))
    other.close()
    transaction.begin()
    assert record.holder is None and record.packs == 1
    connection.close()


def test_a_pack_renews_its_lease_while_it_works(db, monkeypatch):
    """A pack that takes longer than its lease time keeps the lease: it is
    renewed at a quarter of it, so that nobody else packs meanwhile."""
    connection = db.open()
    newService(connection)
    release = threading.Event()
    realPack, realRenew = db.pack, packing._Lease.renew
    renewals = []

    def renew(lease):
        renewals.append(time.monotonic())
        realRenew(lease)

    # The real pack, held back until the test has seen the lease renewed.
    monkeypatch.setattr(db, 'pack', lambda t=None, days=0: (
        release.wait(10), realPack(t, days)))
    monkeypatch.setattr(packing._Lease, 'renew', renew)
    results = []
    started = time.monotonic()
    thread = threading.Thread(target=lambda: results.append(
        packing.pack(db, leaseTime=0.4)))
    thread.start()
    try:
        waitUntil(lambda: len(renewals) >= 6, timeout=10)
        assert time.monotonic() - started > 0.4
        with pytest.raises(PackBusyError):
            packing.pack(db)
    finally:
        release.set()
        thread.join(10)
    assert results and results[0].error is None
    connection.close()


def test_metrics_show_the_database_size_and_the_last_pack(db):
    connection = db.open()
    newService(connection)

    def names():
        return {m.name: m for m in metrics.registry(db).collect()}
    assert 'remotetask_database_bytes' in names()
    assert 'remotetask_last_pack_timestamp' not in names()
    packing.pack(db)
    found = names()
    assert found['remotetask_database_bytes'].samples[0].value == \
        db.storage.getSize()
    assert found['remotetask_last_pack_timestamp_seconds'].samples[0] \
        .value == pytest.approx(time.time(), abs=60)
    assert found['remotetask_last_pack_failed'].samples[0].value == 0
    connection.close()


# The command

@pytest.fixture
def cli(capsys):
    def call(*args):
        code = main([str(arg) for arg in args])
        out, err = capsys.readouterr()
        return code, out, err
    return call


def test_pack_command_expires_and_packs_a_filestorage(tmp_path, cli):
    path = str(tmp_path / 'Data.fs')
    db = DB(FileStorage(path))
    connection = db.open()
    service = newService(connection)
    service.keepFinished = 0
    empty = db.storage.getSize()
    marker = f'gone-{uuid.uuid4().hex}'
    for _ in range(10):
        finish(service, 10, marker)
    connection.close()
    db.close()
    size = os.path.getsize(path)

    code, out, err = cli('pack', '--db', path, '--days', '1')
    assert (code, err) == (0, '')
    assert re.fullmatch(
        r'packed in \d+\.\d s: \S+ [kM]B -> \S+ [kM]B; history before '
        r'\S+ \S+ UTC dropped; 100 finished jobs past their retention '
        r'removed first\n', out), out
    assert onDisk(path, marker)       # the last day's history is kept
    # The default keeps the least history a pack keeps: once it went by,
    # the jobs' bytes leave the disk.
    results = []

    def packed():
        code, out, err = cli('pack', '--db', f'file://{path}', '--json')
        assert code == 0, err
        results.append(json.loads(out))
        return not onDisk(path, marker)
    waitUntil(packed, timeout=PACK_KEEP_MIN + 60, interval=1)
    assert results[0]['packTime'] > time.time() - PACK_KEEP_MIN - 60
    assert results[-1]['expired'] == 0 and results[-1]['error'] is None
    assert results[-1]['sizeAfter'] - empty < (size - empty) / 3


def test_pack_command_can_remove_the_old_copy(tmp_path, cli):
    path = str(tmp_path / 'Data.fs')

    def runJobs():
        db = DB(FileStorage(path))
        connection = db.open()
        root = remotetask.getApplicationRoot(connection, create=True)
        finish(root['svc'] if 'svc' in root else newService(connection), 10)
        connection.close()
        db.close()

    def packedSome(*options):
        # A pack drops something once the least history it keeps went by.
        code, out, err = cli('pack', '--db', path, '--json', *options)
        assert (code, err) == (0, '')
        result = json.loads(out)
        return result['sizeAfter'] < result['sizeBefore']

    runJobs()
    waitUntil(packedSome, timeout=PACK_KEEP_MIN + 60, interval=1)
    assert os.path.exists(path + '.old')     # FileStorage's default
    os.remove(path + '.old')
    runJobs()
    waitUntil(lambda: packedSome('--no-keep-old'),
              timeout=PACK_KEEP_MIN + 60, interval=1)
    assert not os.path.exists(path + '.old')


def test_only_a_filestorage_of_the_command_drops_its_old_copy(cli):
    code, out, err = cli('pack', '--db', 'memory://', '--no-keep-old')
    assert (code, out) == (2, '')
    assert err.startswith('remotetask: --no-keep-old is for a FileStorage')


TAKES = ('must be a number of days up to 3650 that keeps at least 10 '
         'seconds (0.00012 days: transactions that run while a pack works '
         'may still read the history it drops)')


@pytest.mark.parametrize('days', ['-1', '0', '0.0001', '3651', 'nan',
                                  'week'])
def test_pack_command_refuses_bad_days(tmp_path, cli, days):
    path = str(tmp_path / 'Data.fs')
    DB(FileStorage(path)).close()
    before = os.path.getsize(path)
    code, out, err = cli('pack', '--db', path, '--days', days)
    assert code == 2 and out == ''
    assert err == f"remotetask pack: argument --days: {TAKES}, not " \
        f"'{days}'\n"
    assert PACK_KEEP_MIN == 10
    assert os.path.getsize(path) == before


def test_pack_command_needs_a_database_that_is_there(tmp_path, cli):
    code, out, err = cli('pack', '--db', str(tmp_path / 'nothing.fs'))
    assert code == 2
    assert 'there is no database at' in err
    assert not os.path.exists(tmp_path / 'nothing.fs')


# Several processes: a ZEO server, worker processes and the command

class Shared:
    """The test's view of a database that worker processes share: served
    by a ZEO server, or RelStorage on PostgreSQL (history free)."""

    def __init__(self, kind, directory):
        self.server = self.postgres = None
        if kind == 'zeo':
            self.server = ZEOServer(directory)
            self.server.start()
            self.uri = self.server.uri
        else:
            if not postgresReachable():
                pytest.skip('no PostgreSQL at 127.0.0.1:5432 (user '
                            'postgres)')
            self.postgres = PostgresDatabase()
            self.uri = self.postgres.uri + '?keep_history=false'
        self.db = remotetask.openDatabase(self.uri)
        self.tm = transaction.TransactionManager()
        self.connection = self.db.open(transaction_manager=self.tm)
        self.service = newService(self.connection)

    def record(self):
        self.tm.begin()
        return packing.lastPack(self.connection)

    def stored(self, oid) -> bool:
        """Whether the storage holds the object, read from its file or
        its tables (not through a client's cache)."""
        if self.server is not None:
            return oid in _fileOids(self.server.path)
        import psycopg2
        connection = psycopg2.connect(dbname=self.postgres.name,
                                      **POSTGRES)
        try:
            cursor = connection.cursor()
            cursor.execute('SELECT count(*) FROM object_state WHERE '
                           'zoid = %s', (u64(oid),))
            return cursor.fetchone()[0] > 0
        finally:
            connection.close()

    def close(self):
        self.tm.abort()
        self.connection.close()
        self.db.close()
        if self.server is not None:
            self.server.close()
        else:
            self.postgres.drop()


def _fileOids(path):
    storage = FileStorage(path, read_only=True)
    try:
        return {record.oid for transaction_ in storage.iterator()
                for record in transaction_}
    finally:
        storage.close()


@pytest.fixture
def shared(tmp_path):
    made = Shared('zeo', str(tmp_path))
    yield made
    made.close()


@pytest.fixture(params=['zeo', 'relstorage-hf'])
def anyShared(request, tmp_path):
    made = Shared(request.param, str(tmp_path))
    yield made
    made.close()


def serverPacks(server):
    """The packs the ZEO server ran, from its log: ('started' | 'complete')
    in the order they happened (a line logged twice counts once)."""
    with open(os.path.join(os.path.dirname(server.path), 'zeo.log'),
              errors='replace') as log:
        found = re.findall(r'pack\(time=(\S+)\) (started|complete)',
                           log.read())
    return [event for event, _ in dict.fromkeys(
        (event, time_) for time_, event in found)]


def test_two_worker_processes_that_both_want_to_pack(anyShared, tmp_path):
    """Two workers, both due to pack all the time, with packs that take a
    while: never do two packs run at once (the ZEO server's FileStorage
    would refuse the second, and so would RelStorage's pack lock), and
    they keep packing."""
    shared = anyShared
    ballast = shared.connection.root()['ballast'] = OOBTree()
    for i in range(20000):        # live objects: each pack reads them all
        ballast[i] = PersistentMapping(n=i)
    shared.service.packEvery = 0.2
    shared.service.packKeep = PACK_KEEP_MIN
    shared.tm.commit()
    workers = [Worker(str(tmp_path), shared.uri, '--services', 'svc',
                      '--lease', '1', name=f'w{n}') for n in (1, 2)]
    try:
        waitFor(lambda: (shared.record() is not None and
                         shared.record().packs >= 4), timeout=120)
    finally:
        codes = [worker.stop() for worker in workers]
    output = '\n'.join(worker.output() for worker in workers)
    assert codes == [0, 0], output
    assert 'pack' not in ''.join(
        line for line in output.splitlines(True)
        if ' ERROR ' in line or 'Traceback' in line), output
    assert output.count('database packed in') >= 4
    if shared.server is not None:
        events = serverPacks(shared.server)
        assert events.count('started') >= 4
        for index, event in enumerate(events):   # never two at once
            assert event == ('started', 'complete')[index % 2], events


def test_pack_command_waits_its_turn_then_packs(anyShared):
    """Another process holds the pack lease (the test): the command does
    nothing and says who packs; once it is given back, the command removes
    the finished jobs past their retention, and the pack their objects."""
    shared = anyShared
    shared.service.keepFinished = 0
    jobid = shared.service.add('echo', 'gone after the pack')
    shared.service.process()
    shared.tm.commit()
    oid = shared.service.jobs[jobid]._p_oid
    lease = packing._Lease(shared.db, 'the test', leaseTime=60)
    lease.take()
    busy = runCommand('pack', '--db', shared.uri)
    assert busy.returncode == 1 and busy.stdout == ''
    assert busy.stderr.startswith(
        'remotetask: another pack of this database runs: the test, since ')
    assert busy.stderr.endswith('; nothing was done\n')
    assert shared.record().holder == 'the test'
    assert shared.stored(oid)
    lease.giveBack(packing.PackResult(0, 0, 0, None, None, 0))
    lease.close()

    done = runCommand('pack', '--db', shared.uri, '--json')
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result['expired'] == 1 and result['error'] is None
    record = shared.record()
    assert record.holder is None and record.packs == 2
    assert jobid not in shared.service.jobs
    # The job's object leaves the storage once the least history a pack
    # keeps has gone by since it was removed.
    waitFor(lambda: runCommand('pack', '--db', shared.uri).returncode == 0
            and not shared.stored(oid), timeout=PACK_KEEP_MIN + 60)


def test_packs_keeping_the_least_history_drop_nothing_in_use(
        shared, tmp_path):
    """Issue 24, item 5: with packKeep = 0 the workers' transactions read
    objects a pack had dropped (POSKeyError in the lease keeper) and the
    ZEO server could not resolve conflicts (loadSerial of the revision a
    transaction began from met a POSKeyError).  Now 0 is refused; packs
    that keep the least history, as often as they can while jobs come, run
    and expire, and while a task that writes runs longer than that history,
    drop nothing a transaction still needs."""
    from workerapp import tasks
    # This process adds jobs of these tasks (a test before may have
    # cleared the registry since workerapp.tasks was imported).
    zope.component.provideUtility(tasks.Bump(), name='bump')
    zope.component.provideUtility(tasks.Append(), name='append')
    with pytest.raises(InvalidArgumentError, match='at least'):
        shared.service.packKeep = 0
    shared.service.keepFinished = 0
    shared.service.packEvery = 0.2
    shared.service.packKeep = PACK_KEEP_MIN
    shared.connection.root()['Application']['counter'] = tasks.Counter()
    long = shared.service.add('bump', {'work': PACK_KEEP_MIN + 3})
    shared.tm.commit()
    workers = [Worker(str(tmp_path), shared.uri, '--services', 'svc',
                      '--lease', '2', '--threads', '3', name=f'w{n}')
               for n in (1, 2)]
    path, added = str(tmp_path / 'effects'), 0
    try:
        deadline = time.monotonic() + PACK_KEEP_MIN + 8
        while time.monotonic() < deadline:
            for _ in range(10):
                shared.service.add('append', {'path': path})
            shared.tm.commit()
            added += 10
            runSeconds(0.05)      # a steady flow, not a burst
        waitFor(lambda: (shared.tm.begin(),
                         shared.service.statusCounts() == {})[1],
                timeout=120)      # every job ran, and expired
        packs = shared.record().packs
    finally:
        codes = [worker.stop() for worker in workers]
    output = '\n'.join(worker.output() for worker in workers)
    assert codes == [0, 0], output
    # (A commit may conflict when a loaded machine lets a lease expire;
    # what a pack dropped would show as a POSKeyError.)
    for problem in ('POSKeyError', 'lease keeping failed', 'Traceback'):
        assert problem not in output, output
    with open(os.path.join(str(tmp_path), 'zeo.log'),
              errors='replace') as log:
        serverLog = log.read()
    assert 'POSKeyError' not in serverLog, serverLog
    assert 'error while trying to resolve conflict' not in serverLog
    assert packs >= 10
    with open(path) as effects:
        assert len(effects.read().splitlines()) == 2 * added
    shared.tm.begin()
    assert shared.connection.root()['Application']['counter'].value == 1
    assert long not in shared.service.jobs
