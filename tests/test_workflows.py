"""Jobs that wait for jobs, workflows and batches (issue 27): a waiting job
is released once, in the transaction of the outcome that completes what
it waits for; concurrent siblings merge; nothing waits for ever."""
import pytest
import transaction
from ZODB.POSException import ConflictError

from lovely import remotetask
from lovely.remotetask import RetryPolicy, Workflow
from lovely.remotetask.runtime.attempt import Outcome
from services import newService, waitForStatus


@pytest.fixture
def stored(db):
    connection = db.open()
    connection.root()['service'] = remotetask.TaskService()
    transaction.commit()
    yield connection.root()['service']
    transaction.abort()
    connection.close()


@pytest.fixture
def ran():
    done = []

    def step(input):
        done.append(input)
        if isinstance(input, str) and input.startswith('fail'):
            raise ValueError(input)
        return input
    remotetask.provideTask(step, name='step', retry=False)
    return done


def finish(service, jobid, output='ok'):
    job = service.jobs[jobid]
    service.recordOutcome(Outcome(jobid, job.attempts, output=output))


def test_a_chain_runs_step_after_step(stored, ran):
    workflow = Workflow('chain')
    workflow.chain(('a', 'step', 1), ('b', 'step', 2), ('c', 'step', 3))
    ids = stored.addWorkflow(workflow)
    assert [stored.getStatus(ids[n]) for n in 'abc'] == \
        ['queued', 'waiting', 'waiting']
    assert stored.statusCounts()['waiting'] == 2
    stored.process()
    assert ran == [1, 2, 3]
    assert stored.getWorkflow(ids['b'])['status'] == 'completed'
    assert stored.getDependencyResults(ids['c']) == {'b': 2}


def test_a_failed_dependency_cancels_by_default_and_a_retry_goes_on(
        stored, ran):
    workflow = Workflow()
    workflow.add('a', 'step', 'fail once')
    workflow.add('b', 'step', 'b', after='a')
    workflow.add('anyway', 'step', 'anyway', after='a', onFailure='run')
    workflow.add('c', 'step', 'c', after='b')
    ids = stored.addWorkflow(workflow)
    stored.process()
    shown = {step['name']: (step['status'], step['error'])
             for step in stored.getWorkflow(ids['a'])['steps']}
    assert shown == {
        'a': ('error', 'ValueError: fail once'),
        'b': ('cancelled', f'job {ids["a"]}, which it waited for, failed'),
        'c': ('cancelled',
              f'job {ids["b"]}, which it waited for, was cancelled'),
        'anyway': ('completed', None)}
    stored.jobs[ids['a']].input = 'fine now'
    assert stored.retryWorkflow(ids['c']) == [ids['a']]
    assert [stored.getStatus(ids[n]) for n in 'abc'] == \
        ['queued', 'waiting', 'waiting']
    stored.process()
    assert ran[-3:] == ['fine now', 'b', 'c']
    assert stored.getWorkflow(ids['a'])['status'] == 'completed'


def test_bad_graphs_and_dependencies_are_refused_and_add_nothing(
        stored, ran):
    cron = stored.addCronJob('step', 'x', minute=(5,))
    other = stored.add('step', 'other')
    before = len(stored.jobs)
    cycle = Workflow()
    cycle.add('a', 'step', after='b')
    cycle.add('b', 'step', after='a')
    for call, message in [
            (lambda: stored.addWorkflow(cycle),
             "the steps wait for each other in a cycle: 'a' -> 'b' -> 'a'"
             "|the steps wait for each other in a cycle: 'b' -> 'a' -> 'b'"),
            (lambda: stored.add('step', after=[12345]),
             'job 12345 to wait for is unknown'),
            (lambda: stored.add('step', after=[cron]),
             f'job {cron} is a cron job: it does not finish'),
            (lambda: stored.add('step', after=5), 'after is a list'),
            (lambda: stored.add('step', after=[other], startLater=True),
             'one of them'),
            (lambda: stored.add('step', after=[other, other]),
             f'job {other} is given twice'),
            (lambda: stored.add('step', onFailure='ignore'),
             'onFailure is one of cancel, run, failure')]:
        with pytest.raises(remotetask.InvalidArgumentError, match=message):
            call()
    assert len(stored.jobs) == before


def test_a_running_step_adds_steps_that_the_next_one_waits_for(
        stored, ran):
    def fanOut(input):
        for n in range(3):
            remotetask.workflows.addStep(f'part{n}', 'step', n,
                                         before=['join'])
    remotetask.provideTask(fanOut, name='fanOut')
    workflow = Workflow()
    workflow.add('plan', 'fanOut')
    workflow.add('join', 'step', 'join', after='plan')
    ids = stored.addWorkflow(workflow)
    stored.process()
    assert ran == [0, 1, 2, 'join']
    shown = stored.getWorkflow(ids['plan'])
    assert [step['name'] for step in shown['steps']] == \
        ['plan', 'join', 'part0', 'part1', 'part2']
    assert shown['status'] == 'completed'


def test_adding_a_step_that_closes_a_cycle_is_refused(stored, ran):
    workflow = Workflow()
    workflow.add('a', 'step')
    workflow.add('b', 'step', after='a')
    ids = stored.addWorkflow(workflow)
    with pytest.raises(remotetask.InvalidArgumentError, match='a cycle'):
        stored.addStep(ids['a'], 'x', 'step', after=['b'], before=['b'])


def test_the_last_two_siblings_at_once_conflict_once_and_release_once(
        clients, ran):
    """Three siblings completed by three clients at once: the first two
    merge, the last two would each see one left: one of them conflicts,
    and its retry releases the callback."""
    a, b, c = clients(), clients(), clients()
    service = a.root['svc'] = remotetask.TaskService()
    siblings = [service.add('step', n) for n in range(3)]
    callback = service.add('step', 'callback', after=siblings)
    for worker in 'abc':
        service.registerWorker(worker, 60)
    for worker, jobid in zip('abc', siblings):
        service.claimJob(jobid, worker)
    a.commit()
    b.abort(), c.abort()
    for client, jobid in zip((a, b), siblings):
        finish(client.root['svc'], jobid)
    a.commit()
    b.commit()                               # merged: no conflict
    c.abort()
    finish(c.root['svc'], siblings[2])
    a.abort()
    c.commit()
    a.abort()
    assert a.root['svc'].getStatus(callback) == 'queued'
    # Two at once, each the last as far as it knows:
    d, e = clients(), clients()
    service = d.root['svc']
    pair = [service.add('step', n) for n in range(2)]
    waiting = service.add('step', 'after the pair', after=pair)
    service.claimJob(pair[0], 'a')
    service.claimJob(pair[1], 'b')
    d.commit()
    e.abort()
    finish(d.root['svc'], pair[0])
    finish(e.root['svc'], pair[1])
    d.commit()
    with pytest.raises(ConflictError):
        e.commit()
    e.abort()
    finish(e.root['svc'], pair[1])
    e.commit()
    d.abort()
    assert d.root['svc'].getStatus(waiting) == 'queued'
    assert d.root['svc'].jobs[waiting]._barrier.remaining == 0


def test_waiting_for_a_job_that_ends_at_that_moment(clients, ran):
    """A waits for a committed job while B completes it: the host's add
    never conflicts; the drain that registers the dependent and the end
    of the job are serialised, and the waiting job is released once."""
    a, b = clients(), clients()
    service = a.root['svc'] = remotetask.TaskService()
    service.registerWorker('w', 60)
    first = service.add('step', 'first')
    service.claimJob(first, 'w')
    a.commit()
    b.abort()
    waiting = a.root['svc'].add('step', 'then', after=[first])
    finish(b.root['svc'], first)
    b.commit()
    a.commit()                          # the add: no conflict
    a.abort()
    a.root['svc']._store.drain()        # registers, sees it finished
    a.commit()
    a.abort()
    assert a.root['svc'].getStatus(waiting) == 'queued'


def test_batches_call_back_once(stored, ran):
    with stored.batch(onComplete=('step', 'complete'),
                      onSuccess=('step', 'success'),
                      onDeath=('step', 'death')) as batch:
        members = [batch.add('step', n) for n in range(3)]
        with batch.batch(onSuccess=('step', 'inner success')) as inner:
            inner.add('step', 'inner')
    shown = stored.getBatch(batch.id)
    assert (shown['open'], shown['size'], shown['finished']) == \
        (False, 4, 0)
    stored.process()
    assert sorted(map(str, ran[:5])) == ['0', '1', '2', 'inner',
                                         'inner success']
    assert ran.index('inner success') < ran.index('success')
    assert ran.index('inner success') < ran.index('complete')
    assert 'death' not in ran
    shown = stored.getBatch(batch.id)
    assert {kind: callback['status']
            for kind, callback in shown['callbacks'].items()} == {
        'complete': 'completed', 'success': 'completed',
        'death': 'cancelled'}
    assert (shown['finished'], shown['completed']) == (4, 4)
    assert len(members) == 3


def test_a_batch_whose_job_fails_calls_death_once_and_not_success(
        stored, ran):
    batchId = stored.addBatch(onSuccess=('step', 'success'),
                              onDeath=('step', 'death'))
    for n in range(2):
        stored.add('step', f'fail {n}', batch=batchId)
    stored.add('step', 'fine', batch=batchId)
    stored.process()                 # open: no callback yet
    assert 'death' not in ran        # (a failure counts; it waits for close)
    stored.closeBatch(batchId)
    stored.process()
    assert ran.count('death') == 1 and 'success' not in ran
    with pytest.raises(remotetask.JobStateError, match='closed'):
        stored.add('step', 'late', batch=batchId)


def test_jobs_join_an_open_batch_from_other_transactions(clients, ran):
    a, b = clients(), clients()
    service = a.root['svc'] = remotetask.TaskService()
    batchId = service.addBatch(onComplete=('step', 'done'))
    a.commit()
    b.abort()
    a.root['svc'].add('step', 1, batch=batchId)
    b.root['svc'].add('step', 2, batch=batchId)
    a.commit()
    b.commit()                      # two adds at once merge
    b.abort()
    assert b.root['svc'].getBatch(batchId)['size'] == 2
    a.abort()
    a.root['svc'].add('step', 3, batch=batchId)
    b.root['svc'].closeBatch(batchId)
    b.commit()
    with pytest.raises(ConflictError):
        a.commit()                 # an add and the close do not merge
    a.abort()
    service = a.root['svc']
    service.process()
    a.commit()
    assert ran[-1] == 'done' and sorted(ran[:-1]) == [1, 2]


def test_nested_batches_opened_at_once_both_count_as_done(clients, ran):
    """Two nested batches opened in two transactions at once: the
    parent's callbacks wait for both only to come after them, so the
    parent still succeeds (their ``onDeath`` callbacks are cancelled)."""
    a, b = clients(), clients()
    parent = a.root['svc'] = remotetask.TaskService()
    parentId = parent.addBatch(onSuccess=('step', 'parent success'))
    a.commit()
    b.abort()
    nested = [client.root['svc'].addBatch(
        onSuccess=('step', 'nested'), onDeath=('step', 'death'),
        parent=parentId) for client in (a, b)]
    a.commit()
    b.commit()                      # the two opens merge
    a.abort()
    service = a.root['svc']
    for batchId in nested + [parentId]:
        service.closeBatch(batchId)
    service.process()
    a.commit()
    assert ran.count('parent success') == 1 and 'death' not in ran
    assert service.getBatch(parentId)['callbacks']['success'][
        'status'] == 'completed'


def test_a_fan_in_over_threads_calls_back_once(app):
    """Siblings run by a threaded processor over each storage; the
    callback runs once, after every sibling."""
    order = []
    remotetask.provideTask(order.append, name='record',
                           retry=RetryPolicy())
    service = newService(app, factory=remotetask.MultiProcessor,
                         maxThreads=3, waitTime=0.05)
    siblings = [service.add('record', n) for n in range(30)]
    callback = service.add('record', 'callback', after=siblings)
    transaction.commit()
    service.startProcessing()
    waitForStatus(service, siblings + [callback])
    assert order.count('callback') == 1 and order[-1] == 'callback'
    assert sorted(order[:-1]) == list(range(30))


@pytest.fixture
def app(anyDb):
    connection = anyDb.open()
    root = remotetask.getApplicationRoot(connection, create=True)
    transaction.commit()
    yield root
    transaction.abort()
    connection.close()
