"""Jobs by id in writers' blocks: allocation, removal, concurrent change."""
import pytest
import transaction
from ZODB.POSException import ConflictError

from lovely.remotetask.job import Job
from lovely.remotetask.jobmap import SLOTS, JobMap
from lovely.remotetask.lanes import Lanes


def newJob(jobmap, lane):
    job = Job(jobmap.allocate(lane), 'echo', None)
    jobmap.store(job)
    return job


@pytest.fixture
def jobmap():
    lanes = Lanes()
    return JobMap(lanes), lanes


def test_a_writer_fills_a_block_then_takes_the_next(jobmap):
    jobs, lanes = jobmap
    lane = lanes.add()
    made = [newJob(jobs, lane) for _ in range(SLOTS + 3)]
    ids = [job.id for job in made]
    assert ids[:SLOTS] == list(range(ids[0], ids[0] + SLOTS))
    assert ids[0] % SLOTS == 0
    assert all(jobs[job.id] is job for job in made)
    assert sorted(jobs.keys()) == list(jobs.keys()) == sorted(ids)
    first = jobs._block(ids[0])
    assert first.next is lane.block and lane.block.prev is first
    assert not first.current and lane.block.current


def test_writers_take_blocks_of_their_own(jobmap):
    jobs, lanes = jobmap
    one, two = lanes.add(), lanes.add()
    a = [newJob(jobs, one).id for _ in range(5)]
    b = [newJob(jobs, two).id for _ in range(5)]
    assert {i // SLOTS for i in a}.isdisjoint({i // SLOTS for i in b})


def test_removal_empties_and_unlinks_a_block_left_behind(jobmap):
    jobs, lanes = jobmap
    lane = lanes.add()
    made = [newJob(jobs, lane) for _ in range(3 * SLOTS)]
    middle = jobs._block(made[SLOTS].id)
    for job in made[SLOTS:2 * SLOTS]:
        jobs.remove(job.id)
    assert middle.unlinked
    assert jobs._block(made[0].id).next is jobs._block(made[2 * SLOTS].id)
    assert made[SLOTS].id not in jobs and jobs.get(made[SLOTS].id) is None
    with pytest.raises(KeyError):
        jobs[made[SLOTS].id]
    # The block its writer still fills stays, however empty.
    for job in made[2 * SLOTS:]:
        jobs.remove(job.id)
    assert lane.block.current and not lane.block.unlinked


@pytest.mark.parametrize('key', ['x', None, -1, 2**31, 1.5, True])
def test_other_keys_are_not_there(jobmap, key):
    jobs, _ = jobmap
    assert key not in jobs
    assert jobs.get(key, 'nothing') == 'nothing'


def test_concurrent_writers_and_a_cleaner_merge(clients):
    """Two writers add to blocks of their own while a third removes a job
    of one of those blocks: all three commit."""
    setup, a, b, cleaner = clients(), clients(), clients(), clients()
    lanes = Lanes()
    setup.root['jobs'] = JobMap(lanes)
    setup.root['lanes'] = lanes
    laneA, laneB = lanes.add(), lanes.add()
    first = newJob(setup.root['jobs'], laneA)
    setup.commit()
    for client in (a, b, cleaner):
        client.abort()
    newJob(a.root['jobs'], a.root['lanes'].get(laneA.key))
    newJob(b.root['jobs'], b.root['lanes'].get(laneB.key))
    cleaner.root['jobs'].remove(first.id)
    for client in (a, b, cleaner):
        client.commit()
    setup.abort()
    assert len(list(setup.root['jobs'].keys())) == 2
    assert first.id not in setup.root['jobs']


def test_a_block_removed_while_it_changes_conflicts(clients):
    a, b = clients(), clients()
    lanes = Lanes()
    a.root['jobs'] = JobMap(lanes)
    lane = lanes.add()
    made = [newJob(a.root['jobs'], lane) for _ in range(2 * SLOTS)]
    a.commit()
    b.abort()
    for job in made[1:SLOTS]:
        a.root['jobs'].remove(job.id)
    a.commit()
    b.abort()
    a.root['jobs'].remove(made[0].id)        # the last one: unlinks it
    b.root['jobs']._block(made[0].id).slots = (None,) * SLOTS  # a change
    a.commit()
    with pytest.raises(ConflictError):
        b.commit()
    transaction.abort()
