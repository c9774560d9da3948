"""The commands for scripts: init, add, cron, status, result, show, start,
cancel, retry, run-now, pause, resume, jobs, services, workers and clean,
on a FileStorage by URI or path.

A few run as real processes, one after another; the rest run in this
process through `cli.main`, on a database the test has closed first.
tests/test_cli.py has what is about processes: exit statuses as a shell
sees them, Ctrl-C, a file held by another process.
"""
import argparse
import json
import os
import re
import socket
import subprocess
import time

import pytest
import transaction
from hypothesis import example, given, strategies as st
import zope.component
import zodburi

from lovely import remotetask
from lovely.remotetask.cli import values
from lovely.remotetask.cli import main
from lovely.remotetask.hosts.locate import findService
from servers import ZEOServer
from servers import runCommand as run
from workerapp import tasks


@pytest.fixture
def uri(fileUri):
    return fileUri


@pytest.fixture(autouse=True)
def append():
    """The test task, registered in this process (a test before may have
    cleared the registry since workerapp.tasks was imported)."""
    zope.component.provideUtility(tasks.Append(), name='append')


@pytest.fixture
def cli(capsys):
    """`remotetask ARGS` in this process, as a CompletedProcess."""
    def call(*args):
        args = [str(arg) for arg in args]
        code = main(args)
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)
    return call


@pytest.fixture
def command(cli, uri):
    def call(name, *args, service='site1.mail'):
        return cli(name, '--db', uri, '--service', service, *args)
    return call


def oneLine(result, code=2):
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0]


def openService(uri, path='site1.mail'):
    db = remotetask.openDatabase(uri)
    connection = db.open()
    root = remotetask.getApplicationRoot(connection)
    return db, findService(root, path).service


def processAll(uri):
    db, service = openService(uri)
    try:
        service.process()
        transaction.commit()
    finally:
        db.close()


def addJobs(uri, *inputs, startLater=False):
    db, service = openService(uri)
    try:
        ids = [service.add('append', input, startLater=startLater)
               for input in inputs]
        transaction.commit()
        return ids
    finally:
        db.close()


# Real processes, one command after another

def test_add_status_result(uri, tmp_path):
    path = os.path.join(tmp_path, 'ran.txt')
    added = run('add', '--db', uri, '--service', 'site1.mail',
                '--tasks', 'workerapp.tasks', 'append',
                json.dumps({'path': path}))
    assert added.returncode == 0, added.stderr
    jobid = int(added.stdout)
    status = run('status', '--db', uri, '--service', 'site1.mail', str(jobid))
    assert status.stdout == 'queued\n'
    processAll(uri)
    # --wait takes no value: the job id after it stays the job id.
    result = run('result', '--db', uri, '--service', 'site1.mail',
                 '--wait', str(jobid))
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 0          # the pid that ran it


def test_add_without_tasks_names_the_option(uri):
    line = oneLine(run('add', '--db', uri, '--service', 'site1.mail',
                       'append', '{}'))
    assert line == ("remotetask: no task named 'append' is registered: name "
                    "the module that registers it with --tasks MODULE; "
                    "registered here: none")


# In this process

def test_jobs_cancel_clean(command):
    ids = [int(command('add', 'append', '{}', '--start-later').stdout)
           for _ in range(3)]
    page = json.loads(command('jobs', '--json', '--limit', 2).stdout)
    assert [job['id'] for job in page['jobs']] == ids[::-1][:2]  # newest
    assert page['next'] is not None
    rest = json.loads(command('jobs', '--json', '--after', page['next']).stdout)
    assert [job['id'] for job in rest['jobs']] == ids[:1]
    assert command('cancel', ids[0]).stdout == 'cancelled\n'
    cleaned = command('clean', '--json', '--batch', 1)
    assert json.loads(cleaned.stdout) == {'removed': 1}


def test_start(command, uri):
    later, queued = addJobs(uri, {}, startLater=True) + addJobs(uri, {})
    assert command('start', later).stdout == 'queued\n'
    assert oneLine(command('start', queued)) == (
        f'remotetask: job {queued} is queued: start starts only jobs added '
        f'with --start-later')
    assert oneLine(command('start', 7)) == 'remotetask: no job with id 7'


def test_clean_in_batches_removes_all(command, uri):
    ids = addJobs(uri, *[{}] * 5, startLater=True)
    for jobid in ids:
        command('cancel', jobid)
    assert command('clean', '--batch', 2).stdout == '5 jobs removed\n'
    assert command('jobs').stdout == ''


def test_cron(command):
    added = command('cron', 'append', '{}', '--cron', '*/5 * * * *',
                    '--timezone', 'Europe/Vienna', '--json')
    jobid = json.loads(added.stdout)['id']
    data = json.loads(command('status', jobid, '--json').stdout)
    assert data['schedule']['cron'] == '*/5 * * * *'
    assert data['status'] == 'cronjob'


def test_cron_needs_a_schedule(command):
    line = oneLine(command('cron', 'append', '{}'))
    assert line == ("remotetask: cron needs a schedule: --cron '0 9 * * 1-5'"
                    ", --delay SECONDS, or fields such as --minute 0 --hour 9"
                    " (--minute '*' for every minute)")
    assert command('jobs').stdout == ''
    # Every minute, when asked for.
    added = command('cron', 'append', '{}', '--minute', '*', '--json')
    data = json.loads(command('status', json.loads(added.stdout)['id'],
                              '--json').stdout)
    assert [data['schedule'][name] for name in
            ('minute', 'hour', 'dayOfMonth', 'month', 'dayOfWeek')] == \
        [[]] * 5


def test_cron_fields_and_policies(command):
    added = command('cron', 'append', '--minute', '0,30', '--hour', '9-11',
                    '--missed', 'skip', '--grace-time', '60', '--overlap',
                    '--json')
    assert added.returncode == 0, added.stderr
    jobid = json.loads(added.stdout)['id']
    schedule = json.loads(command('status', jobid, '--json').stdout)[
        'schedule']
    assert (schedule['minute'], schedule['hour'], schedule['missed'],
            schedule['graceTime'], schedule['overlap']) == \
        ([0, 30], [9, 10, 11], 'skip', 60.0, True)


def stored(uri, jobid, *names):
    """Attributes of a stored job, as the database has them."""
    db, service = openService(uri)
    try:
        job = service.jobs[jobid]
        return tuple(getattr(job, name) for name in names)
    finally:
        db.close()


def test_options_are_kebab_case_with_the_old_spellings_hidden(
        cli, command, uri):
    for month, week in (('--day-of-month', '--day-of-week'),
                        ('--dayOfMonth', '--dayOfWeek')):
        added = command('cron', 'append', '--minute', '0', month, '1', week,
                        'mon', '--json')
        assert added.returncode == 0, added.stderr
        # Taken by either spelling.
        assert stored(uri, json.loads(added.stdout)['id'], 'dayOfMonth',
                      'dayOfWeek') == ((1,), (0,))
    shown = cli('cron', '--help').stdout
    assert '--day-of-month' in shown and '--day-of-week' in shown
    assert '--dayOfMonth' not in shown and '--dayOfWeek' not in shown
    for name in ('cron', 'add', 'jobs', 'worker', 'serve', 'pack'):
        options = re.findall(r'(?<![\w-])--[\w-]+', cli(name, '--help').stdout)
        assert options and all(o == o.lower() and '_' not in o
                               for o in options), options


def test_days_by_name_in_either_numbering(command, uri):
    """The fields count Monday as 0 (the 2009 tuples), cron expressions
    Sunday; names mean the same day in both, in any case, short or
    whole."""
    byFields = command('cron', 'append', '--minute', '0', '--day-of-week',
                       'MONDAY-fri,Sunday', '--json')
    byCron = command('cron', 'append', '--cron', '0 9 * * Monday-FRIDAY,sun',
                     '--json')
    assert byFields.returncode == byCron.returncode == 0, \
        byFields.stderr + byCron.stderr
    assert stored(uri, json.loads(byFields.stdout)['id'], 'dayOfWeek') == \
        ((0, 1, 2, 3, 4, 6),)
    [cron] = stored(uri, json.loads(byCron.stdout)['id'], 'cron')
    assert cron.dayOfWeek == (0, 1, 2, 3, 4, 5)   # cron's numbering


def test_the_help_says_how_each_counts_the_days(cli):
    shown = ' '.join(cli('cron', '--help').stdout.split())
    assert 'numbers from 0 (Monday) to 6 (Sunday), as the 2009 fields ' \
        'count them' in shown
    assert "its day of the week counts as cron does, 0 (and 7) for Sunday " \
        "to 6 for Saturday, or by name (any case)" in shown


def test_failed_is_another_name_for_error(command, uri):
    failing = addJobs(uri, {}, {})
    failAll(uri, failing)
    listed = json.loads(command('jobs', '--status', 'failed', '--json')
                        .stdout)['jobs']
    assert sorted(job['id'] for job in listed) == sorted(failing)
    assert command('retry', '--all', '--status', 'failed').stdout == \
        '2 jobs retried\n'
    failAll(uri, failing)
    assert command('clean', '--status', 'failed').stdout == \
        '2 jobs removed\n'


def test_retry_all_says_how_many_in_a_sentence(command, uri):
    failing = addJobs(uri, {})
    failAll(uri, failing)
    assert command('retry', '--all').stdout == '1 job retried\n'


def test_result_says_what_became_of_the_job(command, uri):
    done, failed, waiting, cancelled = addJobs(
        uri, {'path': os.devnull}, {}, {'path': os.devnull},
        {'path': os.devnull}, startLater=False)
    db, service = openService(uri)
    service.cancel(cancelled)
    service.processNext(jobid=done)
    transaction.commit()
    for _ in range(3):                 # KeyError: 'path', three attempts
        service.processNext(jobid=failed)
        transaction.commit()
    db.close()

    result = command('result', done)
    assert (result.returncode, result.stdout, result.stderr) == \
        (0, f'{os.getpid()}\n', '')
    assert oneLine(command('result', failed), 1) == \
        f"remotetask: job {failed} failed: KeyError: 'path'"
    assert oneLine(command('result', waiting), 3) == \
        f'remotetask: job {waiting} is queued: it has no result yet ' \
        f'(--wait waits for it)'
    assert oneLine(command('result', cancelled), 4) == \
        f'remotetask: job {cancelled} was cancelled; it has no result'
    # --json says the same on stdout, with the same exit status.
    data = command('result', cancelled, '--json')
    assert data.returncode == 4
    assert json.loads(data.stdout) == dict(
        id=cancelled, status='cancelled', result=None, error=None)
    assert command('result', done, '--json').stdout.startswith('{')


def test_result_of_a_cron_job_is_never_waited_for(command):
    jobid = int(command('cron', 'append', '--hour', '3').stdout)
    line = oneLine(command('result', '--wait', jobid), 3)
    assert line == (f'remotetask: job {jobid} is a cron job: it runs again '
                    f'and again, and has no result of its own (status '
                    f'--json shows its last run)')


def test_waiting_on_a_filestorage_says_to_share_it(command, uri):
    [jobid] = addJobs(uri, {})
    line = oneLine(command('result', jobid, '--wait'))
    assert line.startswith(f'remotetask: job {jobid} is queued, and waiting '
                           f'for it needs a database that processes share')
    assert 'zeo://' in line


def failAll(uri, ids):
    """Run the jobs until they failed for good (KeyError: 'path')."""
    db, service = openService(uri)
    try:
        for jobid in ids:
            while service.getStatus(jobid) != 'error':
                service.processNext(jobid=jobid)
                transaction.commit()
    finally:
        db.close()


def transactions(uri):
    """How many transactions the FileStorage holds."""
    db = remotetask.openDatabase(uri)
    try:
        return len(list(db.storage.iterator()))
    finally:
        db.close()


def test_retry_runs_a_failed_job_again_as_the_same_job(command, uri):
    [jobid] = addJobs(uri, {})
    failAll(uri, [jobid])
    assert command('retry', jobid).stdout == 'queued\n'
    data = json.loads(command('show', jobid, '--json').stdout)
    assert (data['status'], data['error'], data['attempts']) == \
        ('queued', None, 3)
    assert [attempt['attempt'] for attempt in data['history']] == [1, 2, 3]
    # A new attempt of the same job, whose retry policy counts anew.
    failAll(uri, [jobid])
    data = json.loads(command('show', jobid, '--json').stdout)
    assert [attempt['attempt'] for attempt in data['history']] == \
        [1, 2, 3, 4, 5, 6]
    retried = json.loads(command('retry', jobid, '--json').stdout)
    assert retried == {'id': jobid, 'status': 'queued'}


def test_retry_refuses_jobs_that_did_not_fail(command, uri):
    [queued] = addJobs(uri, {})
    before = command('show', queued, '--json').stdout
    assert oneLine(command('retry', queued)) == (
        f'remotetask: job {queued} is queued: only failed and cancelled '
        f'jobs are retried')
    assert command('show', queued, '--json').stdout == before
    assert oneLine(command('retry', 12345)) == \
        'remotetask: no job with id 12345'


def test_retry_a_cancelled_cron_job_goes_back_to_its_schedule(command):
    jobid = int(command('cron', 'append', '{}', '--hour', '3').stdout)
    command('cancel', jobid)
    assert command('retry', jobid).stdout == 'cronjob\n'


def test_retry_all_in_batches_of_their_own(command, uri):
    zope.component.provideUtility(tasks.Append(), name='other')
    failing = addJobs(uri, *[{}] * 5)
    db, service = openService(uri)
    other = [service.add('other', {}) for _ in range(2)]
    cancelled = service.add('append', {})
    service.cancel(cancelled)
    transaction.commit()
    db.close()
    failAll(uri, failing + other)
    before = transactions(uri)
    retried = command('retry', '--all', '--task', 'append', '--batch', 2)
    assert (retried.returncode, retried.stdout, retried.stderr) == \
        (0, '5 jobs retried\n', '')
    assert transactions(uri) == before + 3        # 2 + 2 + 1
    statuses = {jobid: json.loads(command('status', jobid, '--json').stdout)[
        'status'] for jobid in failing + other + [cancelled]}
    assert [statuses[jobid] for jobid in failing] == ['queued'] * 5
    assert [statuses[jobid] for jobid in other] == ['error'] * 2
    assert statuses[cancelled] == 'cancelled'
    assert json.loads(command('retry', '--all', '--json').stdout) == \
        {'retried': 2}
    assert json.loads(command('retry', '--all', '--status', 'cancelled',
                              '--json').stdout) == {'retried': 1}
    assert command('retry', '--all').stdout == '0 jobs retried\n'


def test_cancel_all_and_clean_a_task_in_batches(command, uri):
    """cancel --all takes every job that waits to run once (of --status and
    --task), clean --task the finished jobs of a task (issue 29)."""
    zope.component.provideUtility(tasks.Append(), name='other')
    waiting = addJobs(uri, *[{}] * 5)
    db, service = openService(uri)
    other = service.add('other', {})
    cron = service.addCronJob('append', {}, hour=(3,))
    transaction.commit()
    db.close()
    before = transactions(uri)
    cancelled = command('cancel', '--all', '--task', 'append', '--batch', 2)
    assert (cancelled.returncode, cancelled.stdout, cancelled.stderr) == \
        (0, '5 jobs cancelled\n', '')
    assert transactions(uri) == before + 3        # 2 + 2 + 1
    status = {jobid: command('status', jobid).stdout.strip()
              for jobid in waiting + [other, cron]}
    assert status == {**{jobid: 'cancelled' for jobid in waiting},
                      other: 'queued', cron: 'cronjob'}
    assert oneLine(command('cancel', '--all', '--status', 'error')) == (
        "remotetask cancel: argument --status: unknown status to cancel "
        "'error'; the statuses cancelled are waiting, queued, 'start "
        "later', delayed, retry")
    assert oneLine(command('cancel')) == ('remotetask: cancel needs a '
                                          'JOBID, or --all for every job '
                                          'that waits to run once')
    assert json.loads(command('cancel', '--all', '--status', 'queued',
                              '--json').stdout) == {'cancelled': 1}
    assert command('clean', '--task', 'append', '--batch', 2).stdout == \
        '5 jobs removed\n'
    assert command('status', other).stdout == 'cancelled\n'
    assert command('clean').stdout == '1 job removed\n'


def test_retry_all_ends_though_a_worker_fails_the_jobs_again(
        command, uri, monkeypatch):
    failing = addJobs(uri, {}, {}, {})
    failAll(uri, failing)
    retryAll = remotetask.TaskService.retryAll
    batches = []

    def retryAndFailAgain(self, *args):
        # A worker quicker than the command: each batch fails again at once.
        batches.append(args)
        assert len(batches) <= 10, 'retry --all goes on and on'
        count = retryAll(self, *args)
        for jobid in failing:
            while self.getStatus(jobid) != 'error':
                self.processNext(jobid=jobid)
        return count

    monkeypatch.setattr(remotetask.TaskService, 'retryAll',
                        retryAndFailAgain)
    assert command('retry', '--all', '--batch', 1).stdout == \
        '3 jobs retried\n'
    assert len(batches) == 3
    history = json.loads(command('show', failing[0], '--json').stdout)[
        'history']
    assert len(history) == 6                  # retried once


def test_run_now_queues_a_run_of_a_cron_job(command, uri):
    cronid = int(command('cron', 'append', '{}', '--hour', '3').stdout)
    runid = int(command('run-now', cronid).stdout)
    assert runid != cronid
    data = json.loads(command('show', runid, '--json').stdout)
    assert (data['status'], data['runOf'], data['task']) == \
        ('queued', cronid, 'append')
    assert command('status', cronid).stdout == 'cronjob\n'
    [plain] = addJobs(uri, {})
    assert oneLine(command('run-now', plain)) == \
        f'remotetask: job {plain} is queued, not a waiting cron job'


def test_pause_and_resume_a_service(cli, command, uri):
    paused = command('pause')
    assert paused.stdout == ('service site1.mail paused: no worker claims '
                             'its jobs until remotetask resume --service '
                             'site1.mail\n')
    [jobid] = addJobs(uri, {'path': os.devnull})
    processAll(uri)
    assert command('status', jobid).stdout == 'queued\n'
    listed = json.loads(cli('services', '--db', uri, '--json').stdout)[
        'services']
    assert {row['id']: row['paused'] for row in listed} == \
        {'svc': False, 'site1.mail': True}
    assert json.loads(command('resume', '--json').stdout) == \
        {'service': 'site1.mail', 'paused': False}
    processAll(uri)
    assert command('status', jobid).stdout == 'completed\n'


def test_pause_and_resume_a_cron_job(command, uri):
    cronid = int(command('cron', 'append', '{}', '--hour', '3').stdout)
    assert command('pause', cronid).stdout == (
        f'cron job {cronid} paused: its runs are skipped until remotetask '
        f'resume {cronid}\n')
    db, service = openService(uri)
    assert (service.jobs[cronid].paused, service.isPaused()) == (True, False)
    db.close()
    shown = command('show', cronid).stdout
    assert 'status:       cronjob (paused)\n' in shown
    assert command('resume', cronid).stdout == f'cron job {cronid} resumed\n'
    assert json.loads(command('show', cronid, '--json').stdout)['paused'] \
        is False
    [plain] = addJobs(uri, {})
    assert oneLine(command('pause', plain)) == (
        f'remotetask: job {plain} is not a cron job: pause JOBID pauses cron '
        f'jobs; pause without a JOBID pauses the whole service')


def test_show_says_everything_about_a_failed_job(command, uri):
    [jobid] = addJobs(uri, {})
    failAll(uri, [jobid])
    shown = command('show', jobid)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[:6] == [
        f'job:          {jobid}', 'task:         append',
        'status:       error', 'input:        {}',
        "error:        KeyError: 'path'", 'priority:     0']
    header = lines.index('attempt  started (UTC)            took  worker   '
                         '             outcome')
    attempts = lines[header + 1:header + 4]
    assert [line.split()[0] for line in attempts] == ['1', '2', '3']
    assert all(line.endswith("(in a transaction)    KeyError: 'path'")
               for line in attempts)
    assert lines[header + 5] == 'traceback of attempt 3 (--json has every ' \
        "attempt's):"
    assert lines[header + 6] == 'Traceback (most recent call last):'
    assert lines[-1] == "KeyError: 'path'"
    data = json.loads(command('show', jobid, '--json').stdout)
    assert [sorted(attempt) for attempt in data['history']] == [
        ['attempt', 'ended', 'error', 'started', 'traceback', 'worker']] * 3
    assert all(attempt['traceback'].endswith("KeyError: 'path'\n")
               for attempt in data['history'])


def test_show_a_cron_job_names_its_days(command):
    cronid = int(command('cron', 'append', '{}', '--minute', '0', '--hour',
                         '9', '--dayOfWeek', 'mon').stdout)
    lines = command('show', cronid).stdout.splitlines()
    assert 'schedule:     at 09:00 on Monday (UTC)' in lines
    assert 'as cron:      0 9 * * mon (UTC)' in lines
    assert 'policy:       missed runs: once' in lines
    data = json.loads(command('show', cronid, '--json').stdout)
    assert (data['schedule']['dayOfWeek'], data['paused']) == ([0], False)


def test_jobs_of_a_task(command, uri):
    zope.component.provideUtility(tasks.Append(), name='other')
    ids = addJobs(uri, {}, {})
    db, service = openService(uri)
    otherid = service.add('other', {})
    transaction.commit()
    db.close()
    page = json.loads(command('jobs', '--task', 'other', '--json').stdout)
    assert [job['id'] for job in page['jobs']] == [otherid]
    listed = command('jobs', '--task', 'append', '--status', 'queued')
    assert [int(line.split()[0]) for line in
            listed.stdout.splitlines()[1:]] == ids
    assert command('jobs', '--task', 'nosuch').stdout == ''


def test_services_lists_counts_queue_and_oldest_waiting(cli, uri):
    addJobs(uri, {'path': os.devnull}, {})
    db, service = openService(uri)
    service.processNext()
    transaction.commit()
    db.close()
    listed = cli('services', '--db', uri)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ['service', 'paused', 'queued', 'waits',
                                'for', 'workers', 'jobs']
    assert lines[1].split()[:3] == ['svc', 'no', '0']
    assert lines[1].endswith('  none')
    mail = lines[2].split()
    assert mail[:3] == ['site1.mail', 'no', '1']
    assert lines[2].endswith('  1 queued, 1 completed')
    data = json.loads(cli('services', '--db', uri, '--json').stdout)
    [row] = [row for row in data['services'] if row['id'] == 'site1.mail']
    assert (row['counts'], row['queued'], row['workers'], row['site']) == \
        ({'queued': 1, 'completed': 1}, 1, 0, 'site1')
    assert 0 <= time.time() - row['oldestWaiting'] < 600


def test_services_of_an_empty_database(cli, tmp_path):
    path = os.path.join(tmp_path, 'Data.fs')
    remotetask.openDatabase(path).close()
    listed = cli('services', '--db', path)
    assert (listed.returncode, listed.stdout) == (0, '')
    assert oneLine(listed, 0) == (
        f'remotetask: the database has no services (remotetask init --db '
        f'{path} --service NAME makes one)')


def test_workers_with_heartbeats_and_jobs_in_hand(cli, command, uri):
    assert oneLine(command('workers'), 0) == (
        'remotetask: no worker has registered with service site1.mail '
        '(remotetask worker runs one)')
    [held, other] = addJobs(uri, {}, {})
    db, service = openService(uri)
    service.registerWorker('host1:17:abc', 30.0)
    service.registerWorker('host2:18:def', 0.001)      # its lease runs out
    service.claimJob(held, 'host1:17:abc')
    service.setProgress(held, 0.5, 'half way')
    transaction.commit()
    db.close()
    shown = command('show', held).stdout.splitlines()
    assert 'status:       processing' in shown
    assert 'worker:       host1:17:abc' in shown
    assert 'progress:     50% half way' in shown
    listed = command('workers')
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ['service', 'host', 'pid', 'heartbeat',
                                'lease', 'jobs', 'in', 'hand']
    first = lines[1].split()
    assert first[:3] == ['site1.mail', socket.gethostname(), str(os.getpid())]
    assert first[-2:] == ['held', str(held)]
    assert lines[2].split()[-2:] == ['expired', 'none']
    data = json.loads(cli('workers', '--db', uri, '--json').stdout)['workers']
    assert [(row['service'], row['id'], row['jobs'], row['expired'])
            for row in data] == [
        ('site1.mail', 'host1:17:abc', {str(held): 1}, False),
        ('site1.mail', 'host2:18:def', {}, True)]
    assert all(0 <= row['heartbeatAge'] < 600 for row in data)
    # Of one service only.
    assert json.loads(cli('workers', '--db', uri, '--service', 'svc',
                          '--json').stdout) == {'workers': []}


@pytest.fixture(scope='module')
def zeo(tmp_path_factory):
    server = ZEOServer(str(tmp_path_factory.mktemp('zeo')))
    server.start()
    yield server
    server.close()


def test_result_waits_over_zeo_until_the_timeout(cli, zeo):
    assert cli('init', '--db', zeo.uri, '--service', 'timeout').returncode \
        == 0
    jobid = int(cli('add', '--db', zeo.uri, '--service', 'timeout',
                    'append', '{}').stdout)
    line = oneLine(cli('result', '--db', zeo.uri, '--service', 'timeout',
                       jobid, '--timeout', '0.3'), 3)
    assert line == f'remotetask: job {jobid} is still queued after 0.3 s'


def test_init_makes_the_database_and_the_service(cli, tmp_path):
    path = os.path.join(tmp_path, 'new', 'Data.fs')
    os.mkdir(os.path.dirname(path))
    made = cli('init', '--db', path, '--service', 'site2.tasks')
    assert (made.returncode, made.stdout) == \
        (0, f'created service site2.tasks in {path}\n')
    added = cli('add', '--db', path, '--service', 'site2.tasks', 'append')
    assert added.returncode == 0, added.stderr
    root = cli('init', '--db', path, '--service', 'top', '--json')
    assert json.loads(root.stdout) == {'service': 'top'}
    assert cli('jobs', '--db', path, '--service', 'top').returncode == 0


@pytest.mark.parametrize('path, message', [
    ('site1.mail', "there is a service at 'site1.mail' already; init leaves "
     "it as it is"),
    ('site1', "there is a Folder at 'site1' already; init changed nothing"),
    ('a.b.c', "a service path is a name, or site.name, not 'a.b.c'; init "
     "changed nothing"),
    ('site1.a@b', 'folder item names may not contain "." or "@": \'a@b\'; '
     'init changed nothing'),
])
def test_init_refuses_to_overwrite(command, uri, path, message):
    before = command('jobs', '--json').stdout
    assert oneLine(command('init', service=path)) == f'remotetask: {message}'
    assert command('jobs', '--json').stdout == before
    db = remotetask.openDatabase(uri)
    try:
        root = remotetask.getApplicationRoot(db.open())
        assert sorted(root.keys()) == ['site1', 'svc']
        assert list(root['site1'].keys()) == ['mail']
    finally:
        db.close()


def test_plain_paths_are_filestorages(cli, uri, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    listed = cli('jobs', '--db', 'Data.fs', '--service', 'svc')
    assert (listed.returncode, listed.stderr) == (0, '')
    assert cli('add', '--db', 'Data.fs', '--service', 'svc', 'append',
               '{}').returncode == 0


@pytest.mark.parametrize('name, args', [
    ('status', ['1']), ('result', ['1']), ('jobs', []),
    ('add', ['append']), ('cron', ['append', '--hour', '1']),
    ('cancel', ['1']), ('clean', []), ('show', ['1']), ('retry', ['1']),
    ('retry', ['--all']), ('run-now', ['1']), ('pause', []),
    ('resume', ['1']), ('services', []), ('workers', []),
])
def test_a_mistyped_path_makes_no_database(cli, tmp_path, name, args):
    path = os.path.join(tmp_path, 'Dta.fs')
    line = oneLine(cli(name, '--db', path, '--service', 'svc', *args))
    assert line == (f'remotetask: there is no database at {path}: check the '
                    f'path (remotetask init --db {path} --service NAME '
                    f'creates one)')
    assert os.listdir(tmp_path) == []
    line = oneLine(cli(name, '--db', 'file://' + path, '--service', 'svc',
                       *args))
    assert line.startswith(f'remotetask: there is no database at {path}: ')
    assert os.listdir(tmp_path) == []


def test_worker_makes_no_database(cli, tmp_path):
    path = os.path.join(tmp_path, 'Dta.fs')
    assert oneLine(cli('worker', '--db', path, '--services', '@svc')) \
        .startswith(f'remotetask: there is no database at {path}: ')
    assert os.listdir(tmp_path) == []


def test_read_only_commands_write_nothing(command, uri):
    [jobid] = addJobs(uri, {})
    path = uri[len('file://'):]
    size = os.path.getsize(path)
    for args in (['status', jobid], ['result', jobid], ['jobs'],
                 ['jobs', '--status', 'queued', '--task', 'append'],
                 ['show', jobid], ['services'], ['workers']):
        assert command(*args).returncode in (0, 3)
    assert os.path.getsize(path) == size


def test_an_empty_file_is_no_database_for_reading(cli, tmp_path):
    path = os.path.join(tmp_path, 'Empty.fs')
    open(path, 'wb').close()
    line = oneLine(cli('jobs', '--db', path, '--service', 'svc'))
    assert line == (f"remotetask: the database '{path}' is empty: it has no "
                    f"services yet (remotetask init creates one)")
    assert os.path.getsize(path) == 0


def test_unknown_service_lists_the_services(command):
    assert oneLine(command('jobs', service='nope')) == \
        "remotetask: no service 'nope'; the database has: svc, site1.mail"


def test_a_database_without_services_says_how_to_make_one(cli, tmp_path):
    path = os.path.join(tmp_path, 'Data.fs')
    db = remotetask.openDatabase(path)
    db.close()
    assert oneLine(cli('jobs', '--db', path, '--service', 'mail')) == (
        "remotetask: no service 'mail'; the database has: no services "
        "(remotetask init --service mail makes it)")


def test_a_wrong_root_key_starts_paths_at_the_database_root(command):
    # Nothing at 'App': paths start at the database root, and the message
    # lists what is found from there.
    assert oneLine(command('jobs', '--root-key', 'App')) == (
        "remotetask: no service 'site1.mail'; the database has: "
        "Application.svc")


def test_postgres_without_relstorage_names_the_extra(cli, monkeypatch):
    found = zodburi.entry_points

    def withoutRelStorage(**kw):
        return [ep for ep in found(**kw)
                if not ep.value.startswith('relstorage')]

    monkeypatch.setattr(zodburi, 'entry_points', withoutRelStorage)
    line = oneLine(cli('jobs', '--db', 'postgres://ann@dbhost/app',
                       '--service', 'svc'))
    assert line == ("remotetask: cannot use database URI 'postgres://ann@"
                    "dbhost/app': postgres:// needs RelStorage: pip install "
                    "\"lovely.remotetask[relstorage]\"")


@pytest.mark.parametrize('db, message', [
    ('nosuch://x', "cannot use database URI 'nosuch://x': no storage for "
     "nosuch://; use a path of a FileStorage file, or one of "),
    ('postgresql://ann@dbhost/app', "cannot use database URI 'postgresql://"
     "ann@dbhost/app': RelStorage spells it postgres://USER@HOST:5432/"
     "DBNAME"),
    ('postgres:///app', "cannot use database URI 'postgres:///app': it needs "
     "a user and a host, as in postgres://USER@HOST:5432/DBNAME"),
])
def test_database_uris_that_cannot_work(cli, db, message):
    line = oneLine(cli('jobs', '--db', db, '--service', 'svc'))
    assert line.startswith(f'remotetask: {message}')


def test_version(cli):
    import importlib.metadata
    shown = cli('--version')
    assert shown.returncode == 0
    assert shown.stdout.startswith(
        f"remotetask {importlib.metadata.version('lovely.remotetask')} "
        f"(ZODB ")


LONG = '1' * 5000
DEEP = '[' * 1000 + ']' * 1000

#: Bad input to every argument of every command: (command line after
#: --db and --service, the one line that says what is wrong).
BAD_INPUT = [
    (('add', 'nosuch'), "remotetask: no task named 'nosuch' is registered: "
     "name the module that registers it with --tasks MODULE; registered "
     "here: "),
    (('add', 'append', '{bad'), 'remotetask add: argument input: is not JSON '
     '(Expecting property name enclosed in double quotes: line 1 column 2 '
     '(char 1))'),
    (('add', 'append', 'hello'), 'remotetask add: argument input: is not '
     'JSON (Expecting value: line 1 column 1 (char 0)); a string needs '
     'JSON\'s double quotes inside the shell\'s: \'"hello"\''),
    (('add', 'append', "it's"), 'remotetask add: argument input: is not '
     'JSON (Expecting value: line 1 column 1 (char 0)); a string needs '
     'JSON\'s double quotes inside the shell\'s: \'"it\'"\'"\'s"\''),
    (('add', 'append', DEEP), 'remotetask add: argument input: the JSON '
     'nests 1000 deep; the most is 50'),
    (('add', 'append', LONG), 'remotetask add: argument input: the JSON '
     'holds a number of 5000 characters; the most is 100: send a longer one '
     'as a string'),
    (('add', 'append', f'{{"n": -{LONG}.5}}'), 'remotetask add: argument '
     'input: the JSON holds a number of 5003 characters; the most is 100'),
    (('add', 'append', '[NaN]'), 'remotetask add: argument input: the JSON '
     'holds NaN, which JSON does not allow'),
    (('add', ''), 'remotetask add: argument task: must be the name of a '
     'task, not empty'),
    (('add', 'append', '--priority', '500'), 'remotetask add: argument '
     "--priority: must be a whole number from -100 to 100, not '500'"),
    (('add', 'append', '--priority', LONG), 'remotetask add: argument '
     "--priority: must be a whole number from -100 to 100, not '1111111111"),
    (('add', 'append', '--key', ''), 'remotetask add: argument --key: must '
     'be a key, not empty'),
    (('status', '12345'), 'remotetask: no job with id 12345'),
    (('status', '2147483648'), 'remotetask status: argument JOBID: must be '
     "a job id from 0 to 2147483647, not '2147483648'"),
    (('status', '-1'), 'remotetask status: argument JOBID: must be a job id '
     "from 0 to 2147483647, not '-1'"),
    (('result', 'x'), 'remotetask result: argument JOBID: must be a job id '
     "from 0 to 2147483647, not 'x'"),
    (('result', '1', '--timeout', '0'), 'remotetask result: argument '
     "--timeout: must be a number of seconds above 0 to 3.1536e+07, not "
     "'0'"),
    (('result', '1', '--timeout', 'nan'), 'remotetask result: argument '
     '--timeout: must be a number of seconds above 0'),
    (('result', '--wait=5', '1'), 'remotetask result: argument --wait: '
     "ignored explicit argument '5'"),
    (('cancel', LONG), 'remotetask cancel: argument JOBID: must be a job id '
     "from 0 to 2147483647, not '1111"),
    (('jobs', '--after', '2147483648'), 'remotetask jobs: argument --after: '
     "must be the cursor of a page, as the page before printed it, not "
     "'2147483648'"),
    (('jobs', '--limit', '0'), 'remotetask jobs: argument --limit: must be '
     "a whole number from 1 to 500, not '0'"),
    (('jobs', '--status', 'nope'), "remotetask jobs: argument --status: "
     "unknown status 'nope'; the statuses are queued, processing, retry, "
     "waiting, 'start later', delayed, cronjob, completed, cancelled, error"),
    (('clean', '--status', 'queued'), "remotetask clean: argument --status: "
     "unknown finished status 'queued'; the finished statuses are "
     "completed, cancelled, error"),
    (('clean', '--batch', '0'), 'remotetask clean: argument --batch: must be '
     "a whole number from 1 to 100000, not '0'"),
    (('clean', '--batch', '-1'), 'remotetask clean: argument --batch: must '
     "be a whole number from 1 to 100000, not '-1'"),
    (('cron', 'append', '--minute', '61'), 'remotetask cron: argument '
     '--minute: value 61 is out of range 0-59'),
    (('cron', 'append', '--hour', '0-99999999999'), 'remotetask cron: '
     'argument --hour: value 99999999999 is out of range 0-23'),
    (('cron', 'append', '--day-of-week', 'mo'), 'remotetask cron: argument '
     "--day-of-week: value 'mo' is not a number or a day: use * for every "
     "day, numbers from 0 (Monday) to 6 (Sunday) and ranges such as 0-4, or "
     "names such as mon-fri"),
    # The camelCase spelling of before still works, and is named as given.
    (('cron', 'append', '--dayOfWeek', 'mo'), 'remotetask cron: argument '
     "--dayOfWeek: value 'mo' is not a number or a day"),
    (('cron', '--dayofmonth', '1', 'append', '{}'), 'remotetask cron: '
     'unknown option --dayofmonth; did you mean --day-of-month? (see '
     'remotetask cron --help)'),
    (('add', 'append', '--prio', '5'), 'remotetask add: unknown option '
     '--prio; did you mean --priority? (see remotetask add --help)'),
    (('add', '--start_later', 'append'), 'remotetask add: unknown option '
     '--start_later; did you mean --start-later? (see remotetask add '
     '--help)'),
    (('jobs', '--status=failing'), "remotetask jobs: argument --status: "
     "unknown status 'failing'; the statuses are queued, processing, retry, "
     "waiting, 'start later', delayed, cronjob, completed, cancelled, error "
     "(or failed for error)"),
    (('cron', 'append', '--cron', '0 0 30 2 *'),
     "remotetask: cron expression '0 0 30 2 *' never fires"),
    (('cron', 'append', '--cron', ''), 'remotetask cron: argument --cron: '
     'must be a cron expression, not empty'),
    (('cron', 'append', '--cron', '* * * * *', '--timezone', 'Mars/Base'),
     'remotetask: '),
    (('cron', 'append', '--delay', '-1'), 'remotetask cron: argument '
     "--delay: must be a number of seconds from 0 to 3.1536e+09, not '-1'"),
    (('cron', 'append', '--delay', 'inf'), 'remotetask cron: argument '
     "--delay: must be a number of seconds from 0 to 3.1536e+09, not 'inf'"),
    (('cron', 'append', '--hour', '1', '--missed', 'all'), 'remotetask '
     "cron: argument --missed: unknown policy 'all'; the policies are once, "
     "each, skip"),
    (('cron', 'append', '--hour', '1', '--grace-time', '-5'), 'remotetask '
     "cron: argument --grace-time: must be a number of seconds from 0 to "),
    (('jobs', '--connect-timeout', '0'), 'remotetask jobs: argument '
     "--connect-timeout: must be a number of seconds above 0 to 86400, not "
     "'0'"),
    (('jobs', '--connect-timeout', 'inf'), 'remotetask jobs: argument '
     "--connect-timeout: must be a number of seconds above 0 to 86400, not "
     "'inf'"),
    (('jobs', '--root-key', ' '), 'remotetask jobs: argument --root-key: '
     'must be a key, or "" for the database root, not empty'),
    (('jobs', '--tasks', ''), 'remotetask jobs: argument --tasks: must be a '
     'module name, not empty'),
    (('jobs', '--tasks', 'no.such.module'), "remotetask: cannot import tasks "
     "module 'no.such.module': ModuleNotFoundError: No module named 'no'"),
    (('jobs', '--nosuch'), 'remotetask jobs: unknown option --nosuch (see '
     'remotetask jobs --help)'),
    (('jobs', '-x'), 'remotetask jobs: unknown option -x (see remotetask '
     'jobs --help)'),
    (('retry',), 'remotetask: retry needs a JOBID, or --all for every '
     'failed job (--all --status cancelled for the cancelled ones)'),
    (('retry', '1', '--all'), 'remotetask: retry takes a JOBID or --all, not '
     'both'),
    (('retry', '1', '--task', 'append'), 'remotetask: --status, --task and '
     '--batch go with --all; retry JOBID retries that job'),
    (('retry', '--all', '--status', 'queued'), "remotetask retry: argument "
     "--status: unknown status to retry 'queued'; the statuses retried are "
     "error, cancelled"),
    (('retry', '--all', '--batch', '0'), 'remotetask retry: argument --batch:'
     " must be a whole number from 1 to 100000, not '0'"),
    (('retry', '--all', '--task', ''), 'remotetask retry: argument --task: '
     'must be the name of a task, not empty'),
    (('run-now', 'x'), 'remotetask run-now: argument JOBID: must be a job id '
     "from 0 to 2147483647, not 'x'"),
    (('run-now',), 'remotetask run-now: the following arguments are '
     'required: JOBID'),
    (('pause', '-1'), 'remotetask pause: argument JOBID: must be a job id '
     "from 0 to 2147483647, not '-1'"),
    (('resume', '99'), 'remotetask: no job with id 99'),
    (('show', '2147483648'), 'remotetask show: argument JOBID: must be a job '
     "id from 0 to 2147483647, not '2147483648'"),
    (('jobs', '--task', ''), 'remotetask jobs: argument --task: must be the '
     'name of a task, not empty'),
    (('workers', '--service', 'nope'), "remotetask: no service 'nope'; the "
     "database has: svc, site1.mail"),
    (('services', '--service', ''), 'remotetask services: argument '
     '--service: must be a service path, not empty'),
    # Bytes of the command line that are not UTF-8 come as surrogates.
    (('add', 'append', '"caf\udcff"'), 'remotetask add: argument input: '
     'holds bytes that are not UTF-8: \'"caf\\udcff"\''),
    (('init', '--service', 'caf\udcff'), "remotetask init: argument "
     "--service: holds bytes that are not UTF-8: 'caf\\udcff'"),
]


@pytest.mark.parametrize('args, message', BAD_INPUT)
def test_bad_input_is_one_line(command, args, message):
    before = command('jobs', '--json').stdout
    line = oneLine(command(*args))
    assert line.startswith(message), line
    assert len(line) < 400
    assert command('jobs', '--json').stdout == before


@pytest.mark.parametrize('args, message', [
    ((), 'remotetask: the following arguments are required: COMMAND (see '
     'remotetask --help)'),
    (('nosuch',), "remotetask: argument COMMAND: invalid choice: 'nosuch' "
     "(choose from "),
    (('jobs',), 'remotetask jobs: the following arguments are required: '
     '--db, --service (see remotetask jobs --help)'),
    (('result', '--db', 'x', '--service', 'y', '--wait'),
     'remotetask result: the following arguments are required: JOBID (see '
     'remotetask result --help)'),
    (('worker', '--db', 'x', '--services', ' '), 'remotetask worker: '
     'argument --services: no directives given'),
    (('worker', '--db', 'x', '--services', '@svc', '--threads', '-1'),
     'remotetask worker: argument --threads: must be a whole number from 1 '
     "to 256, not '-1'"),
    (('worker', '--db', 'x', '--services', '@svc', '--threads', '0'),
     'remotetask worker: argument --threads: must be a whole number from 1 '
     "to 256, not '0'"),
    (('worker', '--db', 'x', '--services', '@svc', '--lease', '-5'),
     'remotetask worker: argument --lease: must be a number of seconds '
     "above 0 to 86400, not '-5'"),
    (('worker', '--db', 'x', '--services', '@svc', '--wait-time', 'nan'),
     'remotetask worker: argument --wait-time: must be a number of seconds '
     "above 0 to 86400, not 'nan'"),
    (('worker', '--db', 'x', '--services', '@svc', '--grace', '-1'),
     'remotetask worker: argument --grace: must be a number of seconds from '
     "0 to 86400, not '-1'"),
    (('worker', '--db', 'x', '--services', '@svc', '--metrics-port',
      '70000'), 'remotetask worker: argument --metrics-port: must be a '
     "whole number from 1 to 65535, not '70000'"),
    (('worker', '--db', '', '--services', '@svc'), 'remotetask worker: '
     'argument --db: must be a database URI or path, not empty'),
])
def test_usage_errors_are_one_line(cli, args, message):
    line = oneLine(cli(*args))
    assert line.startswith(message), line


def test_the_input_may_come_after_options(command):
    added = command('add', 'append', '--priority', '5', '{"n": 1}', '--json')
    assert added.returncode == 0, added.stderr
    data = json.loads(command('status', json.loads(added.stdout)['id'],
                              '--json').stdout)
    assert (data['input'], data['priority']) == ({'n': 1}, 5)
    negative = command('add', 'append', '--key', 'k', '-5', '--json')
    data = json.loads(command('status', json.loads(negative.stdout)['id'],
                              '--json').stdout)
    assert data['input'] == -5
    assert oneLine(command('add', 'append', '--priority', '5', 'word')) \
        .startswith('remotetask add: argument input: is not JSON')
    assert oneLine(command('add', 'append', '{}', '--priority', '5', 'x')) \
        == 'remotetask: unrecognized arguments: x (see remotetask --help)'


def test_the_input_may_nest_to_the_limit(command):
    deep = '[' * values.MAX_INPUT_DEPTH + ']' * values.MAX_INPUT_DEPTH
    assert command('add', 'append', deep).returncode == 0
    # Brackets in strings do not count.
    assert command('add', 'append', json.dumps(['[' * 100])).returncode == 0
    number = '9' * values.MAX_NUMBER_LENGTH
    assert command('add', 'append', number).returncode == 0


# The argument types, for any text
TYPES = [values.jsonInput, values.integer(0, 10),
         values.seconds(positive=True), values.word('a word'),
         values.scheduleField('dayOfWeek'),
         values.choice(('a', 'b c'), 'thing', 'things')]


def containers(inner):
    return st.lists(inner, max_size=3) | \
        st.dictionaries(st.text(max_size=3), inner, max_size=3)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    containers, max_leaves=20)


@given(st.text())
@example('0' * 10 + '\x1f' * 6 + '\U00010b56' * 30)  # escapes ten times longer
def test_argument_types_refuse_with_a_message_or_take(text):
    for parse in TYPES:
        try:
            parse(text)
        except argparse.ArgumentTypeError as error:
            assert '\n' not in str(error) and len(str(error)) < 300


def nesting(value):
    if isinstance(value, list):
        return 1 + max(map(nesting, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(nesting, value.values()), default=0)
    return 0


@given(JSON)
def test_the_depth_counted_before_parsing_is_the_depth(value):
    text = json.dumps(value)
    assert values._depth(text) == nesting(value)
    assert values.jsonInput(text) == value
