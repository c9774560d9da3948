"""Who drains the intake (issue 27: two drains at once conflict, and the
lease keepers of every worker drained on every tick while jobs moved, and
so did a drain after any commit that left the intake long).

A worker's commits leave their moves to the worker: it drains after a
claim by its place among the workers, and its lease keeper drains only
moves that stood still.  An application's commits still have the intake
drained after them."""
import pytest
import transaction

from lovely import remotetask
from lovely.remotetask.runtime.attempt import Outcome
from lovely.remotetask.runtime.draining import Drainer
from lovely.remotetask.runtime.steps import Station
from lovely.remotetask.store import drainapart
from services import newService


@pytest.fixture
def drainsAfterCommit(monkeypatch):
    """The drains that commits had started after them, by store oid."""
    started = []
    monkeypatch.setattr(drainapart, 'drainApart',
                        lambda db, oid: started.append(oid))
    return started


@pytest.fixture
def service(db):
    remotetask.provideTask(lambda input: input, name='echo')
    connection = db.open()
    service = newService(connection.root())
    service.registerWorker('w', 60)
    transaction.commit()
    yield service
    transaction.abort()
    connection.close()


def test_a_worker_s_commits_leave_the_drain_to_it(db, service,
                                                  drainsAfterCommit):
    for n in range(40):
        service.add('echo', n)
    transaction.commit()
    assert len(drainsAfterCommit) == 1     # the application's commit
    with Station(db, service._p_oid, 'w') as station:
        claims = station.claim(limit=40)
        station.record([Outcome(claim.jobid, claim.attempt, claim.input)
                        for claim in claims])
        assert station.read(lambda svc: svc.undrained()) == 80
    assert len(drainsAfterCommit) == 1     # none after the worker's


def test_a_lease_keeper_drains_only_moves_that_stood_still(
        db, service, drainsAfterCommit):
    """While jobs move, claims drain; the lease keeper drains what they
    leave when nothing moved for a tick, and a worker later in place
    waits a tick more for each place before it (at most three)."""
    service.add('echo', 1)
    transaction.commit()
    first, third = Drainer(), Drainer()
    third.place = 2
    with Station(db, service._p_oid, 'w') as station:
        ticks = []
        for tick in range(4):
            for drainer in (first, third):
                drainer.onTick(station)
            ticks.append(station.read(lambda svc: svc.undrained()))
            if tick == 0:
                service.add('echo', 2)          # moved since the last tick
                transaction.commit()
        assert ticks[:2] == [1, 2] and ticks[2] == 0
        for drainer in (first, third):
            service.add('echo', 3)
            transaction.commit()
            for _ in range(1 + drainer.place):
                drainer.onTick(station)
            assert station.read(lambda svc: svc.undrained()) == 1
            drainer.onTick(station)
            assert station.read(lambda svc: svc.undrained()) == 0


def test_a_worker_drains_after_a_claim_by_its_place(db, service,
                                                    drainsAfterCommit):
    """The first in place drains at 16 moves, the next ones later, so
    that workers claiming at once do not all drain at once."""
    for n in range(20):
        service.add('echo', n)
    transaction.commit()
    with Station(db, service._p_oid, 'w') as station:
        for place, drains in ((1, False), (0, True)):
            station.claim(limit=1)
            station.place, drainer = place, Drainer()
            assert station.undrained >= drainapart.drainAt(0)
            drainer.afterClaim(station)
            undrained = station.read(lambda svc: svc.undrained())
            assert (undrained == 0) == drains and drainer.place == place
