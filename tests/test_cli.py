"""The command line as real processes: the worker's bad input and its
clean stop on SIGTERM; exit statuses as a shell sees them, Ctrl-C while
waiting for a result, a FileStorage that another process holds, a paused
service that a worker process leaves alone, and worker processes listed."""
import json
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import time

import pytest
import transaction
import zope.component

from lovely import remotetask
from servers import HERE, Worker, ZEOServer, waitFor
from servers import runCommand as run
from workerapp import tasks


def oneLine(result, code=2):
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, result.stderr
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
    assert line.startswith("remotetask: cannot use database URI 'nosuch://x'"
                           ": no storage for nosuch://; use a path of a "
                           "FileStorage file, or one of ")
    assert 'file://' in line and 'zeo://' in line


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


def addLongJob(uri, path):
    """A job that writes 'start' to `path`, then runs for two minutes:
    past any grace time of these tests."""
    db = remotetask.openDatabase(uri)
    try:
        connection = db.open()
        service = remotetask.getApplicationRoot(connection)['svc']
        zope.component.provideUtility(tasks.Append(), name='append')
        jobid = service.add('append', {'path': path, 'delay': 120})
        transaction.commit()
        return jobid
    finally:
        db.close()   # a FileStorage is for one process at a time


def jobAndWorkers(uri, jobid):
    db = remotetask.openDatabase(uri)
    try:
        service = remotetask.getApplicationRoot(db.open())['svc']
        return service.getStatus(jobid), service.getWorkers()
    finally:
        db.close()


def test_ctrl_c_past_the_grace_time_gives_the_job_back_cleanly(
        fileUri, tmp_path):
    """The job runs on past the grace time: the worker gives it back and
    exits without waiting for the task, which it cannot stop, and
    without closing the database under it (that made tracebacks)."""
    path = os.path.join(tmp_path, 'ran.txt')
    jobid = addLongJob(fileUri, path)
    worker = Worker(str(tmp_path), fileUri, '--services', '@svc',
                    '--grace', '0.5')
    try:
        waitFor(lambda: os.path.exists(path))
        worker.signal(signal.SIGINT)
        assert worker.process.wait(30) == 1   # long before the task's end
    finally:
        worker.kill()
    output = worker.output()
    assert 'Traceback' not in output, output
    assert f'job {jobid} given back' in output
    assert output.splitlines()[-1].endswith(
        'remotetasks.svc still busy after 0.5 s; their jobs were given back')
    status, workers = jobAndWorkers(fileUri, jobid)
    assert status in ('queued', 'retry') and workers == []


def test_a_second_ctrl_c_ends_the_worker_at_once(fileUri, tmp_path):
    path = os.path.join(tmp_path, 'ran.txt')
    jobid = addLongJob(fileUri, path)
    worker = Worker(str(tmp_path), fileUri, '--services', '@svc',
                    '--grace', '120')
    try:
        waitFor(lambda: os.path.exists(path))
        worker.signal(signal.SIGINT)
        waitFor(lambda: 'stopping: finishing the jobs in hand' in
                worker.output())
        worker.signal(signal.SIGINT)
        assert worker.process.wait(30) == 130
    finally:
        worker.kill()
    output = worker.output()
    assert 'Traceback' not in output, output
    assert output.splitlines()[-1] == (
        'remotetask: stopped at once on a second Ctrl-C; the jobs in hand '
        'are left to their leases')
    # Left to its lease: the worker's record holds it until it expires.
    status, [record] = jobAndWorkers(fileUri, jobid)
    assert status == 'processing' and list(record['jobs']) == [jobid]


@pytest.mark.parametrize('args, message', [
    (('add', 'append', '[' * 1000 + ']' * 1000),
     'remotetask add: argument input: the JSON nests 1000 deep'),
    (('add', 'append', '1' * 5000), 'remotetask add: argument input: the '
     'JSON holds a number of 5000 characters'),
    (('jobs', '--after', '2147483648'), 'remotetask jobs: argument --after: '
     'must be the cursor of a page'),
    (('clean', '--batch', '0'), 'remotetask clean: argument --batch: must be '
     'a whole number from 1 to 100000'),
    (('clean', '--batch', '-1'), 'remotetask clean: argument --batch: must '
     'be a whole number from 1 to 100000'),
])
def test_bad_input_ends_the_process_with_one_line(fileUri, args, message):
    line = oneLine(run(args[0], '--db', fileUri, '--service', 'svc',
                       '--tasks', 'workerapp.tasks', *args[1:], timeout=30))
    assert line.startswith(message), line


def test_worker_with_threads_below_one(fileUri):
    line = oneLine(run('worker', '--db', fileUri, '--services', '@svc',
                       '--threads', '-1'))
    assert line == ("remotetask worker: argument --threads: must be a whole "
                    "number from 1 to 256, not '-1'")


def test_names_that_are_not_text_are_shown_escaped(tmp_path):
    # A file name may be any bytes; on a strict UTF-8 stderr they are
    # escaped rather than a UnicodeEncodeError.
    path = os.path.join(tmp_path, 'caf\udcff.fs')
    env = dict(os.environ, PYTHONIOENCODING='utf-8:strict')
    result = subprocess.run(
        [sys.executable, '-m', 'lovely.remotetask', 'jobs', '--db', path,
         '--service', 'svc'], capture_output=True, text=True, env=env,
        errors='replace')
    line = oneLine(result)
    assert line.startswith('remotetask: there is no database at ')
    assert 'caf\\udcff.fs' in line


def test_version():
    shown = run('--version')
    assert shown.returncode == 0 and shown.stderr == ''
    assert shown.stdout.startswith('remotetask ')


def openService(uri, name='svc'):
    zope.component.provideUtility(tasks.Append(), name='append')
    db = remotetask.openDatabase(uri)
    tm = transaction.TransactionManager()
    connection = db.open(transaction_manager=tm)
    return db, tm, remotetask.getApplicationRoot(connection)[name]


def test_result_exit_statuses(fileUri):
    db, tm, service = openService(fileUri)
    done = service.add('append', {'path': os.devnull})
    failed = service.add('append', {})
    waiting = service.add('append', {})
    cancelled = service.add('append', {})
    service.cancel(cancelled)
    tm.commit()
    service.processNext(jobid=done)
    tm.commit()
    while service.getStatus(failed) != 'error':
        service.processNext(jobid=failed)
        tm.commit()
    db.close()

    def result(jobid):
        return run('result', '--db', fileUri, '--service', 'svc',
                   str(jobid))

    completed = result(done)
    assert (completed.returncode, completed.stdout, completed.stderr) == \
        (0, f'{os.getpid()}\n', '')
    for jobid, code, says in ((failed, 1, 'failed'),
                              (waiting, 3, 'is queued'),
                              (cancelled, 4, 'was cancelled')):
        answer = result(jobid)
        assert answer.stdout == ''
        assert oneLine(answer, code).startswith(
            f'remotetask: job {jobid} {says}')


@pytest.fixture(scope='module')
def zeo(tmp_path_factory):
    server = ZEOServer(str(tmp_path_factory.mktemp('zeo')))
    server.start()
    db = remotetask.openDatabase(server.uri)
    connection = db.open()
    remotetask.getApplicationRoot(connection, create=True)['svc'] = \
        remotetask.TaskService()
    transaction.commit()
    connection.close()
    db.close()
    yield server
    server.close()


def _defaultSigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Waiter:
    """A real ``remotetask result --wait`` whose stderr is a terminal, so
    that it shows the state of the job it waits for."""

    def __init__(self, uri, jobid):
        master, terminal = pty.openpty()
        env = dict(os.environ, PYTHONPATH=HERE + os.pathsep +
                   os.environ.get('PYTHONPATH', ''))
        # Started as a shell starts a command in the foreground, with
        # Ctrl-C at its default: this process may ignore SIGINT (a shell
        # ignores it in what it starts in the background, pytest too then),
        # and a child inherits that, as Python leaves an ignored SIGINT
        # alone.
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'lovely.remotetask', 'result', '--db',
             uri, '--service', 'svc', '--wait', str(jobid)],
            stdout=subprocess.PIPE, stderr=terminal, env=env, text=True,
            preexec_fn=_defaultSigint)
        os.close(terminal)
        self.terminal, self.shown = master, b''

    def waitFor(self, text: str, timeout=60) -> None:
        """Read the terminal until it shows `text`."""
        deadline = time.monotonic() + timeout
        while text.encode() not in self.shown:
            left = deadline - time.monotonic()
            assert left > 0, f'{text!r} not shown: {self.shown!r}'
            if select.select([self.terminal], [], [], left)[0]:
                if not self._read():
                    raise AssertionError(f'{text!r} not shown before the '
                                         f'end: {self.shown!r}')

    def _read(self) -> bool:
        try:
            chunk = os.read(self.terminal, 4096)
        except OSError:          # EIO: the process closed the terminal
            return False
        self.shown += chunk
        return bool(chunk)

    def finish(self, timeout=30):
        """(exit status, stdout, the lines on the terminal)."""
        code = self.process.wait(timeout)
        while self._read():
            pass
        os.close(self.terminal)
        out = self.process.stdout.read()
        self.process.stdout.close()
        lines = self.shown.decode().replace('\r\x1b[K', '\n').splitlines()
        return code, out, [line for line in lines if line.strip()]


def test_ctrl_c_while_waiting_for_a_result(zeo):
    db, tm, service = openService(zeo.uri)
    jobid = service.add('append', {})
    tm.commit()
    db.close()
    waiter = Waiter(zeo.uri, jobid)
    waiter.waitFor(f'job {jobid} is queued')
    waiter.process.send_signal(signal.SIGINT)
    code, out, lines = waiter.finish()
    assert (code, out) == (130, '')
    assert lines[-1] == f'remotetask: stopped waiting; job {jobid} is ' \
        f'still queued'
    assert not any('Traceback' in line for line in lines)


def test_waiting_for_a_result_over_zeo(zeo, tmp_path):
    db, tm, service = openService(zeo.uri)
    path = os.path.join(tmp_path, 'ran.txt')
    jobid = service.add('append', {'path': path})
    tm.commit()
    waiter = Waiter(zeo.uri, jobid)
    waiter.waitFor(f'job {jobid} is queued')
    service.processNext(jobid=jobid)
    tm.commit()
    db.close()
    code, out, lines = waiter.finish()
    assert (code, out) == (0, f'{os.getpid()}\n')


def test_a_filestorage_held_by_another_process(fileUri, tmp_path):
    worker = Worker(str(tmp_path), fileUri, '--services', '@svc')
    try:
        waitFor(lambda: 'worker running' in worker.output())
        path = fileUri[len('file://'):]
        added = run('add', '--db', path, '--service', 'svc',
                    '--tasks', 'workerapp.tasks', 'append', '{}')
        assert oneLine(added) == (
            f"remotetask: cannot open database '{path}': it is in use by "
            f"process {worker.pid}: a FileStorage serves one process at a "
            f"time; stop that process, or serve the file through a ZEO "
            f"server (remotetask zeo --address 127.0.0.1:8100 --db {path}) "
            f"and give every process --db zeo://127.0.0.1:8100")
        # Reading needs no lock: read-only commands see the file as it is.
        listed = run('jobs', '--db', path, '--service', 'svc', '--json')
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout) == {'jobs': [], 'next': None}
    finally:
        assert worker.stop() == 0


def test_a_worker_blocked_by_tasks_past_their_limits_exits_for_a_fresh_one(
        fileUri, tmp_path):
    """Tasks that ignore their time limits keep their threads: after
    `maxAbandoned` of them the worker takes no job of a task with a time
    limit, and when that lasts, exits with status 3 so that its
    supervisor starts a fresh one, which they do not follow."""
    db = remotetask.openDatabase(fileUri)
    connection = db.open()
    service = remotetask.getApplicationRoot(connection)['svc']
    from workerapp import tasks
    import zope.component
    zope.component.provideUtility(tasks.Stubborn(), name='stubborn')
    ids = [service.add('stubborn', 30) for _ in range(4)]
    transaction.commit()
    connection.close()
    db.close()
    worker = Worker(str(tmp_path), fileUri, '--services', '@svc',
                    '--grace', '0.5')
    assert worker.process.wait(60) == 3
    output = worker.output()
    assert 'takes no job of a task with a time limit' in output
    assert 'the worker exits (status 3)' in output
    db = remotetask.openDatabase(fileUri)
    try:
        service = remotetask.getApplicationRoot(db.open())['svc']
        statuses = [service.getStatus(j) for j in ids]
        assert statuses.count('error') == 3
    finally:
        db.close()


def test_a_paused_service_is_left_alone_by_every_worker(zeo, tmp_path):
    db, tm, root = openRoot(zeo.uri)
    root['paused'] = remotetask.TaskService()
    root['live'] = remotetask.TaskService()
    tm.commit()
    paused = run('pause', '--db', zeo.uri, '--service', 'paused')
    assert (paused.returncode, paused.stderr) == (0, '')
    worker = Worker(str(tmp_path), zeo.uri, '--services', 'paused,live')
    try:
        path = os.path.join(tmp_path, 'ran.txt')
        waiting = root['paused'].add('append', {'path': path})
        running = root['live'].add('append', {'path': path})
        tm.commit()

        def status(name, jobid):
            tm.begin()
            return root[name].getStatus(jobid)

        # The worker runs the job of the other service, which it heard of
        # in the same commit, and leaves this one queued.
        waitFor(lambda: status('live', running) == 'completed')
        assert status('paused', waiting) == 'queued'
        resumed = run('resume', '--db', zeo.uri, '--service', 'paused')
        assert resumed.stdout == 'service paused resumed\n'
        waitFor(lambda: status('paused', waiting) == 'completed')
    finally:
        db.close()
        assert worker.stop() == 0


def openRoot(uri):
    zope.component.provideUtility(tasks.Append(), name='append')
    db = remotetask.openDatabase(uri)
    tm = transaction.TransactionManager()
    connection = db.open(transaction_manager=tm)
    return db, tm, remotetask.getApplicationRoot(connection)


def test_workers_shows_the_worker_processes(fileUri, tmp_path):
    worker = Worker(str(tmp_path), fileUri, '--services', '@svc')
    path = fileUri[len('file://'):]
    try:
        # Read-only: the worker holds the FileStorage.
        def listed():
            shown = run('workers', '--db', path, '--json')
            assert shown.returncode == 0, shown.stderr
            return json.loads(shown.stdout)['workers']

        waitFor(lambda: listed() != [])
        [row] = listed()
        assert (row['service'], row['host'], row['pid'], row['jobs'],
                row['expired']) == ('svc', socket.gethostname(), worker.pid,
                                    {}, False)
        services = run('services', '--db', path).stdout.splitlines()
        assert services[1].split()[:5] == ['svc', 'no', '0', '1', 'none']
    finally:
        assert worker.stop() == 0
    # A worker that stops says so.
    assert json.loads(run('workers', '--db', path, '--json').stdout) == \
        {'workers': []}
