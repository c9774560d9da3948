"""A flood of jobs added in one commit (issue 28: 10,000 jobs of one
account held another account's 100 back to 0.11x of their rate alone).
Claims read only the oldest entries of the intake, so that they cost the
same behind a flood as behind none, and drains take the flood in parts,
each a short transaction of its own."""
import pytest
import transaction

from lovely import remotetask
from lovely.remotetask.store import claiming, drainapart, store
from services import loads


@pytest.fixture
def stored(db):
    connection = db.open()
    service = connection.root()['service'] = remotetask.TaskService()
    transaction.commit()
    service.registerWorker('w', 60)
    transaction.commit()
    yield service
    transaction.abort()
    connection.close()


@pytest.fixture
def accounts():
    remotetask.provideTask(lambda input: input, name='account',
                           concurrency=1, partitionBy='account')


@pytest.fixture
def undrained(monkeypatch):
    """No drain after a commit: the intake keeps what is added."""
    monkeypatch.setattr(drainapart, 'drainApart', lambda db, oid: None)


def test_a_flood_in_one_commit_is_drained_in_parts(stored, monkeypatch):
    remotetask.provideTask(lambda input: input, name='echo')
    drained, drain = [], store.Store.drain

    def counted(self, *most):
        drained.append(drain(self, *most))
        return drained[-1]
    monkeypatch.setattr(store.Store, 'drain', counted)
    ids = [stored.add('echo', n)
           for n in range(2 * drainapart.DRAIN_MOST + 500)]
    transaction.commit()          # and the drain after it, in parts
    assert drained == [drainapart.DRAIN_MOST] * 2 + [500]
    stored._p_jar.sync()
    assert stored.undrained() == 0
    assert [c.jobid for c in stored.claim('w', 3)] == ids[:3]


def test_behind_a_flood_a_claim_reads_the_oldest_of_the_intake(
        stored, accounts, undrained, monkeypatch):
    monkeypatch.setattr(claiming, 'INTAKE_READS', 50)
    big = [stored.add('account', {'account': 'big'}) for _ in range(500)]
    small = stored.add('account', {'account': 'small'})
    transaction.commit()
    db = stored._p_jar.db()
    # A claim loads the intake's oldest 50 jobs, not the 501 there are.
    assert loads(db, lambda: (stored.claim('w', 2), transaction.abort())) \
        < 50 + 20
    # The big account's first job; its others wait for it, and the small
    # account's is behind them in the intake, not seen yet.
    assert [c.jobid for c in stored.claim('w', 2)] == [big[0]]
    transaction.commit()
    while stored.drain():
        transaction.commit()
    # Drained: the small account's job is claimed, the big one's held.
    assert [c.jobid for c in stored.claim('w', 2)] == [small]


def test_a_job_moved_again_after_a_drains_part_is_filed_once(
        stored, undrained):
    remotetask.provideTask(lambda input: input, name='echo')
    first = stored.add('echo', 'first')
    others = [stored.add('echo', n) for n in range(4)]
    transaction.commit()
    stored.cancel(first)
    stored.retry(first)          # queued again: a third move, at the end
    transaction.commit()
    while stored._store.drain(2):   # the first part: its first move
        transaction.commit()
    claimed = [c.jobid for c in stored.claim('w', 10)]
    assert sorted(claimed) == sorted(others + [first])
    assert claimed[-1] == first   # queued again last: runs last
    assert stored.claim('w', 10) == []


def test_in_place_process_runs_a_whole_flood(stored, undrained, monkeypatch):
    """With no drain between (one transaction, or a view from before the
    drain), the head of the intake fills with jobs already run: `process`
    reads on past them, and runs every job."""
    monkeypatch.setattr(claiming, 'INTAKE_READS', 20)
    remotetask.provideTask(lambda input: input, name='echo')
    ids = [stored.add('echo', n) for n in range(70)]
    transaction.commit()
    stored.process()
    assert stored.statusCounts() == {'completed': 70}
    assert claiming.oldest(stored._store) is None
    assert [stored.getResult(jobid) for jobid in ids] == list(range(70))
