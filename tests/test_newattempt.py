"""A job run again shows no end time or error of its last attempt as its
own (issue 29): they are in its history only."""
import pytest
import transaction

from lovely import remotetask
from lovely.remotetask import interfaces
from lovely.remotetask.exceptions import JobStateError
from lovely.remotetask.runtime.attempt import Outcome
from lovely.remotetask.timing.retry import RetryPolicy


@pytest.fixture
def stored(db):
    @remotetask.provideTask(retry=RetryPolicy(maxAttempts=3))
    def flaky(input):
        raise OSError(f'down: {input}')

    connection = db.open()
    connection.root()['service'] = remotetask.TaskService()
    transaction.commit()
    yield connection.root()['service']
    transaction.abort()
    connection.close()


def test_a_new_attempt_starts_without_the_last_ones_end_and_error(stored):
    jobid = stored.add('flaky', 'a')
    stored.processNext()
    job = stored.jobs[jobid]
    # Queued to be retried (at once), it says what it waits after.
    assert job.status == interfaces.QUEUED
    assert (job.error, job.completed is not None) == ('OSError: down: a',
                                                      True)
    ended = job.completed
    assert stored.claimNextJob() == jobid
    assert job.status == interfaces.PROCESSING
    assert (job.error, job.completed, job.attempts) == (None, None, 2)
    assert job.started >= ended
    assert [(one['attempt'], one['ended'], one['error'])
            for one in job.history] == [(1, ended, 'OSError: down: a')]
    transaction.commit()


def test_a_job_retried_by_hand_keeps_its_last_attempt_in_the_history(
        stored):
    jobid = stored.add('flaky', 'b')
    stored.claimNextJob()
    stored.recordOutcome(Outcome(jobid, 1, error='it broke'), now=None)
    job = stored.jobs[jobid]
    assert (job.status, job.error) == (interfaces.ERROR, 'it broke')
    stored.retry(jobid)
    assert job.status == interfaces.QUEUED
    assert (job.error, job.started, job.completed) == (None, None, None)
    assert [(one['attempt'], one['error']) for one in job.history] == [
        (1, 'it broke')]
    transaction.commit()


def test_remove_job_takes_a_finished_job_only(stored):
    """removeJob (issue 29): one finished job, as clean removes many; its
    key is free again; a job not finished stays, with the reason."""
    done = stored.add('flaky', 'c', key='c')
    stored.claimNextJob()
    stored.recordOutcome(Outcome(done, 1, output='ok'), now=None)
    assert stored.getStatus(done) == interfaces.COMPLETED
    waiting = stored.add('flaky', 'd')
    with pytest.raises(JobStateError, match=(
            rf'job {waiting} is queued: only finished jobs \(completed, '
            r'cancelled, error\) are removed')):
        stored.removeJob(waiting)
    stored.removeJob(done)
    assert done not in stored.jobs and waiting in stored.jobs
    assert stored.statusCounts().get(interfaces.COMPLETED, 0) == 0
    assert stored.add('flaky', 'again', key='c') != done
    transaction.commit()
