"""Tags and the search index: what the drain indexes (adds, finishes,
removals), how queries match (tags exactly, words by prefix, all of
them), and that concurrent adds of tagged jobs never conflict on it."""
import threading

import pytest
import transaction
from transaction.interfaces import TransientError
from ZODB.POSException import ConflictError

from lovely import remotetask
from lovely.remotetask.exceptions import InvalidArgumentError
from lovely.remotetask import testing
from lovely.remotetask.store import indexing, search
from lovely.remotetask.store.jobs import Job
from lovely.remotetask.task import TaskError
from services import newService, waitForStatus


@pytest.fixture
def service():
    remotetask.provideTask(lambda input: {'answer': input}, name='echo')

    def fail(input):
        raise TaskError(f'broken pipe to {input}')
    remotetask.provideTask(fail, name='fail')
    return remotetask.TaskService()


def ids(service, **query):
    jobs, cursor = service.jobsPage(limit=1000, **query)
    assert cursor is None
    return [job.id for job in jobs]


def indexed(service, term):
    return list(service._store.search.idsOf(term))


def test_tags_are_stored_checked_and_shown(service):
    jobid = service.add('echo', 1, tags=['nightly', 'eu', 'nightly'])
    assert service.jobs[jobid].tags == ('nightly', 'eu')
    assert service.jobs[service.add('echo', 2)].tags == ()
    for wrong in ('nightly', [''], ['a b'], ['a,b'], [1], ['x' * 65], {},
                  ['a\x1cb'],
                  [f't{n}' for n in range(17)], 5):
        with pytest.raises(InvalidArgumentError, match='tag'):
            service.add('echo', 3, tags=wrong)
    assert len(service.jobs) == 2


def test_the_drain_indexes_tags_and_input_words(service):
    first = service.add('echo', {'customer': 'ACME Corp'}, tags=['eu'])
    second = service.add('echo', 'acme widgets', tags=['us'])
    assert indexed(service, '#eu') == []        # not before a drain
    assert ids(service, tag='eu') == [first]    # but found in the intake
    service.drain()
    assert indexed(service, '#eu') == [first]
    assert indexed(service, 'acme') == [first, second]
    assert indexed(service, 'customer') == [first]
    assert ids(service, search='acme') == [second, first]
    assert ids(service, search='ACME corp') == [first]       # AND
    assert ids(service, search='acme', tag='us') == [second]
    assert ids(service, search='wid') == [second]            # a prefix
    assert ids(service, search='idgets') == []     # not inside a word
    assert ids(service, tag='e') == []             # tags match whole
    assert ids(service, search='acme nothing') == []


def test_finished_jobs_are_found_by_result_and_error(service):
    done = service.add('echo', 'x', tags=['t'])
    failed = service.add('fail', 'host7', tags=['t'])
    service.drain()
    assert ids(service, search='broken') == []
    service.process()
    assert service.getStatus(failed) == 'error'
    assert ids(service, search='broken pipe') == [failed]   # undrained
    service.drain()
    assert indexed(service, 'broken') == [failed]
    assert indexed(service, 'answer') == [done]
    assert ids(service, search='answer', status='completed') == [done]
    assert ids(service, search='host7', status='error') == [failed]
    assert ids(service, search='host7', status='completed') == []


def test_a_new_attempt_drops_the_old_error_words(service):
    failed = service.add('fail', 'once')
    service.process()
    service.drain()
    assert indexed(service, 'broken') == [failed]
    remotetask.provideTask(lambda input: 'fine', name='fail')
    service.retry(failed)
    service.process()
    service.drain()
    assert indexed(service, 'broken') == []
    assert indexed(service, 'fine') == [failed]


def test_a_word_of_one_job_holds_its_id_not_a_set(service):
    """Most words of inputs (ids, numbers) are one job's: a set for each
    would be a stored record more per job."""
    solo, first, second = (service.add('echo', word, startLater=True)
                           for word in ('solo', 'pair', 'pair'))
    service.drain()
    terms = service._store.search.terms
    assert terms['solo'] == solo and isinstance(terms['pair'], search.Ids)
    assert ids(service, search='solo') == [solo]
    assert ids(service, search='pa') == [second, first]
    for jobid in (first, solo):
        service.cancel(jobid)
        service.removeJob(jobid)
    service.drain()
    assert 'solo' not in terms and list(terms['pair']) == [second]
    assert ids(service, search='pair') == [second]
    assert ids(service, search='solo') == []


def test_removed_jobs_leave_the_index(service):
    jobids = [service.add('echo', n, tags=['gone']) for n in range(5)]
    kept = service.add('echo', 'k', tags=['kept'], startLater=True)
    service.process()
    service.drain()
    service.removeJob(jobids[0])
    assert ids(service, tag='gone') == jobids[:0:-1]    # filtered at once
    assert service.clean() == 4
    service.drain()
    index = service._store.search
    assert indexed(service, '#gone') == []
    assert set(index.ofJob.keys()) == {kept}
    assert 'answer' not in index.terms and list(index.idsOf('k')) == [kept]
    assert ids(service, tag='kept') == [kept]


def test_pages_of_a_query_go_on_by_cursor(service):
    jobids = [service.add('echo', n, tags=['p']) for n in range(7)]
    service.add('echo', 'other')
    service.drain()
    first, cursor = service.jobsPage(limit=3, tag='p')
    second, cursor = service.jobsPage(limit=3, tag='p', after=cursor)
    third, cursor = service.jobsPage(limit=3, tag='p', after=cursor)
    assert cursor is None
    assert [job.id for job in first + second + third] == jobids[::-1]


def test_indexed_and_undrained_jobs_list_together_once_each(service):
    old = [service.add('echo', n, tags=['m']) for n in range(3)]
    service.drain()
    service.cancel(old[1])                 # moved: in the intake again
    new = [service.add('echo', n, tags=['m']) for n in range(2)]
    everyone = (old + new)[::-1]
    assert ids(service, tag='m') == everyone
    first, cursor = service.jobsPage(limit=2, tag='m')
    rest, cursor = service.jobsPage(limit=10, tag='m', after=cursor)
    assert [job.id for job in first + rest] == everyone
    assert ids(service, tag='m', status='cancelled') == [old[1]]


def test_a_query_with_a_status_and_a_task_filters_by_all(service):
    """Status, task and a tag together (as the actions on every matching
    job ask): the listing's filter of the task and the index's of the tag
    both apply (the index's was lost to a name the page reused)."""
    remotetask.provideTask(lambda input: input, name='other')
    wanted = service.add('echo', 'a', tags=['t'])
    service.add('echo', 'b')
    service.add('other', 'c', tags=['t'])
    service.drain()
    assert [job.id for job in service.jobsPage(
        status='queued', task='echo', tag='t')[0]] == [wanted]


def test_bad_queries_are_refused_odd_ones_find_nothing(service):
    jobid = service.add('echo', 'x', tags=['t'])
    for query in (dict(tag=3), dict(search=5), dict(search='w' * 201)):
        with pytest.raises(InvalidArgumentError):
            service.jobsPage(**query)
    assert ids(service, tag='a b') == ids(service, tag='') == []
    assert ids(service, search='!! ') == [jobid]     # no words: any job


def test_a_prefix_of_too_many_words_is_refused(service, monkeypatch):
    monkeypatch.setattr(search, 'MAX_PREFIX_TERMS', 3)
    for n in range(4):
        service.add('echo', f'word{n}')
    service.drain()
    assert len(ids(service, search='word3')) == 1
    with pytest.raises(InvalidArgumentError, match='begins more than 3'):
        service.jobsPage(search='wor')


def test_removals_noted_in_a_database_add_up_and_merge(db):
    remotetask.provideTask(lambda input: input, name='echo')
    tms = [transaction.TransactionManager() for _ in range(2)]
    connections = [db.open(transaction_manager=tm) for tm in tms]
    connections[0].root()['svc'] = remotetask.TaskService()
    jobids = [connections[0].root()['svc'].add('echo', n, tags=['r'])
              for n in range(4)]
    tms[0].commit()
    service = connections[0].root()['svc']
    service.process()
    service.drain()
    tms[0].commit()                        # and indexed after it, apart
    for tm in tms:
        tm.begin()
    services = [connection.root()['svc'] for connection in connections]
    assert list(services[0]._store.search.ofJob) == jobids
    assert services[0].undrained() == 0
    services[0].removeJob(jobids[0])
    tms[0].commit()
    services[0].removeJob(jobids[1])
    services[1].removeJob(jobids[2])
    tms[0].commit()
    tms[1].commit()                        # merged, not a conflict
    tms[0].begin()
    notes = services[0]._store.search.notes
    assert sorted(notes.removed) == jobids[:3]
    assert services[0].undrained() == 3    # for the lease keeper
    services[0].drain()
    tms[0].commit()
    tms[0].begin()
    assert ids(services[0], tag='r') == [jobids[3]]
    assert list(services[0]._store.search.ofJob) == [jobids[3]]
    assert len(services[0]._store.search.notes) == 0
    for connection in connections:
        connection.close()


def test_notes_merge_appends_with_a_take_and_two_takes_conflict(db):
    """Drains and removers append to the notes while the indexer takes
    their first part: merged; two indexers taking at once conflict."""
    clients = [db.open(transaction_manager=transaction.TransactionManager())
               for _ in range(3)]
    clients[0].root()['notes'] = search.Notes()
    clients[0].root()['notes'].note(removed=(1, 2))
    clients[0].transaction_manager.commit()
    for client in clients:
        client.transaction_manager.begin()
    notes = [client.root()['notes'] for client in clients]
    assert notes[0].take(1) == ((), (1,))
    notes[1].note(removed=(3,))
    notes[2].take(5)
    clients[0].transaction_manager.commit()
    clients[1].transaction_manager.commit()        # merged
    with pytest.raises(ConflictError):
        clients[2].transaction_manager.commit()    # a second take
    clients[2].transaction_manager.abort()
    clients[0].transaction_manager.begin()
    assert notes[0].removed == (2, 3) and notes[0].takes == 1
    for client in clients:
        client.close()


def test_the_indexer_writes_no_tree_in_the_drain(db):
    """The drain notes the jobs; the index's trees are written after its
    commit, in a transaction of their own."""
    remotetask.provideTask(lambda input: input, name='echo')
    connection = db.open()
    connection.root()['svc'] = service = remotetask.TaskService()
    jobid = service.add('echo', 'word', tags=['t'])
    transaction.commit()
    service.drain()
    index = service._store.search
    assert list(index.notes.jobs) == [service.jobs[jobid]]
    assert index.terms._p_changed is not True and len(index.terms) == 0
    assert ids(service, tag='t', search='wor') == [jobid]   # noted: found
    transaction.commit()
    transaction.begin()
    assert list(index.idsOf('#t')) == [jobid] and len(index.notes) == 0
    connection.close()


def test_a_lease_keeper_indexes_what_an_indexer_left(db, monkeypatch):
    """Notes an indexer left (it conflicted with another, or failed) are
    indexed by the next worker's lease keeper, with nothing else moving."""
    remotetask.provideTask(lambda input: input, name='echo')
    connection = db.open()
    service = newService(remotetask.getApplicationRoot(connection,
                                                       create=True))
    jobid = service.add('echo', 'left', tags=['late'], startLater=True)
    with monkeypatch.context() as patched:
        patched.setattr(indexing, 'indexApart', lambda db, oid: None)
        transaction.commit()
        service.drain()
        transaction.commit()                  # drained, not indexed
        transaction.begin()
        assert service.undrained() == 1
        assert len(service._store.search.notes.jobs) == 1
    service.startProcessing()

    def indexed():
        transaction.begin()
        return len(service._store.search.idsOf('#late')) == 1
    testing.waitUntil(indexed, timeout=30, interval=0.05)
    service.stopProcessing(wait=10)
    assert ids(service, tag='late', search='left') == [jobid]
    assert service.undrained() == 0
    connection.close()


def test_a_store_made_before_the_index_gets_it_at_its_next_drain(service):
    old = service.add('echo', 'legacy words', tags=['old'])
    service.drain()
    del service._store.search            # as stores made before it were
    assert 'search' not in service._store.__dict__
    new = service.add('echo', 'fresh legacy')
    service.drain()
    assert indexed(service, 'legacy') == [old, new]


def test_query_words_and_terms():
    assert search.queryWords('Foo-bar  foo') == ('foo', 'bar')
    many = Job(2, 'echo', ' '.join(f'w{n}' for n in range(300)))
    many.output = 'late'
    assert len(search.termsOf(many)) == search.MAX_WORDS
    assert 'late' not in search.termsOf(many)
    job = Job(1, 'echo', {'Path': '/srv/data'})
    job.tags = ('x',)
    assert search.termsOf(job) == ('#x', 'path', 'srv', 'data')


def test_workflow_steps_take_tags(service):
    flow = remotetask.Workflow('nightly')
    flow.add('a', 'echo', 1, tags=['flow'])
    stepIds = service.addWorkflow(flow)
    assert service.jobs[stepIds['a']].tags == ('flow',)
    wrong = remotetask.Workflow('wrong')
    wrong.add('b', 'echo', 1, tags=['no good'])
    with pytest.raises(InvalidArgumentError, match='tag'):
        service.addWorkflow(wrong)


PRODUCERS = 8
ADDS = 25


def produce(db, oid, conflicts, added):
    tm = transaction.TransactionManager()
    connection = db.open(transaction_manager=tm)
    try:
        for n in range(ADDS):
            tm.begin()
            service = connection.get(oid)
            jobid = service.add('echo', f'order {n}', tags=['load', f'n{n}'])
            try:
                tm.commit()
                added.append(jobid)
            except TransientError as error:
                conflicts.append(error)
                tm.abort()
    finally:
        connection.close()


# On RelStorage too: the drains no longer write the index's trees (the
# indexer does, apart), which two drains writing at once deadlocked on
# PostgreSQL's row locks, where an add waiting on the intake could be the
# victim (UnableToLockRowsDeadlockError).
def test_concurrent_tagged_adds_never_conflict(anyDb, service):
    """Producers add tagged jobs at once while a processor runs them and
    drains: no add conflicts, and the index ends with every job, found
    by its tag, its input and its result."""
    connection = anyDb.open()
    svc = newService(remotetask.getApplicationRoot(connection, create=True))
    svc.startProcessing()
    conflicts, added = [], []
    threads = [threading.Thread(target=produce,
                                args=(anyDb, svc._p_oid, conflicts, added))
               for _ in range(PRODUCERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert conflicts == []
    assert len(added) == PRODUCERS * ADDS
    waitForStatus(svc, added, timeout=120)
    svc.stopProcessing(wait=10)
    for attempt in range(10):             # drained and indexed after it
        transaction.begin()
        svc.drain()
        try:
            transaction.commit()
        except TransientError:
            transaction.abort()
            continue
        transaction.begin()
        if svc.undrained() == 0:
            break
    assert svc.undrained() == 0
    assert sorted(indexed(svc, '#load')) == sorted(added)
    assert sorted(indexed(svc, 'answer')) == sorted(added)
    assert sorted(ids(svc, tag='load', search='order answer')) == \
        sorted(added)
    connection.close()
