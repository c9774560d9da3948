"""The pending queue: FIFO, and concurrent changes that merge or conflict."""
import pytest
from ZODB.POSException import ConflictError

from lovely.remotetask.queue import (
    SEGMENT_SIZE, JobQueue, mergeEntries, mergeReference)


def test_merge_keeps_both_appends_and_both_removals():
    assert mergeEntries((1, 2, 3), (2, 3, 4), (1, 2, 3, 5)) == (2, 3, 4, 5)
    assert mergeEntries((1, 2, 3), (1, 3), (2, 3)) == (3,)
    assert mergeEntries((), (1,), (2,)) == (1, 2)


def test_merge_refuses_the_same_removal_twice():
    with pytest.raises(ConflictError):
        mergeEntries((1, 2), (2,), (2,))


def test_merge_reference_takes_the_side_that_changed():
    assert mergeReference('a', 'a', 'b') == 'b'
    assert mergeReference('a', 'b', 'a') == 'b'
    assert mergeReference('a', 'b', 'b') == 'b'
    assert mergeReference(None, None, 'b') == 'b'
    with pytest.raises(ConflictError):
        mergeReference('a', 'b', 'c')


def test_fifo_across_segments():
    queue = JobQueue()
    for i in range(3 * SEGMENT_SIZE + 5):
        queue.put(i)
    assert len(queue) == 3 * SEGMENT_SIZE + 5
    assert list(queue)[:3] == [0, 1, 2]
    assert [queue.pull() for _ in range(len(queue))] == \
        list(range(3 * SEGMENT_SIZE + 5))
    assert queue.pull() is None
    assert not queue
    assert len(list(queue._segments())) == 1  # passed segments are dropped


def test_remove_by_token():
    queue = JobQueue()
    tokens = {i: queue.put(i) for i in range(SEGMENT_SIZE + 10)}
    queue.remove(tokens[3], 3)
    queue.remove(tokens[SEGMENT_SIZE + 1], SEGMENT_SIZE + 1)
    assert len(queue) == SEGMENT_SIZE + 8
    assert 3 not in list(queue) and SEGMENT_SIZE + 1 not in list(queue)
    with pytest.raises(KeyError):
        queue.remove(tokens[3], 3)


def test_empty_segments_are_passed_over():
    queue = JobQueue()
    tokens = {i: queue.put(i) for i in range(2 * SEGMENT_SIZE + 1)}
    for i in range(SEGMENT_SIZE, 2 * SEGMENT_SIZE):
        queue.remove(tokens[i], i)
    pulled = [queue.pull() for _ in range(SEGMENT_SIZE + 1)]
    assert pulled == list(range(SEGMENT_SIZE)) + [2 * SEGMENT_SIZE]


@pytest.fixture
def two(clients):
    """Two clients that see the same committed queue of 3 ids."""
    a, b = clients(), clients()
    a.root['queue'] = JobQueue()
    for i in range(3):
        a.root['queue'].put(i)
    a.commit()
    b.abort()
    return a, b


def test_put_and_pull_at_once_merge(two):
    # A short queue: the producer's and the consumer's change hit the same
    # segment, and both commit.
    a, b = two
    assert a.root['queue'].pull() == 0
    b.root['queue'].put(3)
    a.commit()
    b.commit()
    a.abort()
    assert list(a.root['queue']) == [1, 2, 3]
    assert len(a.root['queue']) == 3


def test_two_pulls_of_the_same_id_conflict(two):
    a, b = two
    assert a.root['queue'].pull() == b.root['queue'].pull() == 0
    a.commit()
    with pytest.raises(ConflictError):
        b.commit()


def test_concurrent_puts_merge_in_commit_order(two):
    a, b = two
    a.root['queue'].put(10)
    b.root['queue'].put(20)
    b.commit()
    a.commit()
    assert list(a.root['queue']) == [0, 1, 2, 20, 10]


def test_consumer_moving_on_and_producer_starting_a_segment_merge(clients):
    a, b = clients(), clients()
    queue = a.root['queue'] = JobQueue()
    for i in range(2 * SEGMENT_SIZE):
        queue.put(i)
    a.commit()
    b.abort()
    for i in range(SEGMENT_SIZE + 1):   # the consumer moves the head on
        assert a.root['queue'].pull() == i
    b.root['queue'].put('new')          # the producer starts a segment
    a.commit()
    b.commit()
    a.abort()
    assert list(a.root['queue']) == \
        list(range(SEGMENT_SIZE + 1, 2 * SEGMENT_SIZE)) + ['new']


def test_an_append_to_a_segment_left_behind_conflicts(clients):
    """A producer with an old view appends to the segment it thinks is the
    last, after the consumer has emptied it and moved on: merging would
    lose the id, so the commit must conflict, and the retry lands it."""
    setup, stale, fresh, consumer = clients(), clients(), clients(), clients()
    setup.root['queue'] = JobQueue()
    for i in range(SEGMENT_SIZE - 1):
        setup.root['queue'].put(i)
    setup.commit()
    for client in (stale, fresh, consumer):
        client.abort()   # all see the queue one short of a full segment
    fresh.root['queue'].put('a')          # fills the segment
    fresh.commit()
    fresh.root['queue'].put('c')          # starts the next one
    fresh.commit()
    consumer.abort()
    queue = consumer.root['queue']
    assert [queue.pull() for _ in range(SEGMENT_SIZE + 1)][-2:] == ['a', 'c']
    assert queue.pull() is None           # the head has moved on
    consumer.commit()
    stale.root['queue'].put('b')          # into the segment left behind
    with pytest.raises(ConflictError):
        stale.commit()
    stale.abort()
    stale.root['queue'].put('b')
    stale.commit()
    consumer.abort()
    assert consumer.root['queue'].pull() == 'b'
