"""Chains: one writer's FIFO, and concurrent changes that merge or
conflict."""
import pytest
from ZODB.POSException import ConflictError

from lovely.remotetask.queue import SEGMENT_SIZE, Chain


def pull(chain):
    """Take the first entry, as a reader does."""
    for segment, value in chain.first():
        chain.take(segment, value)
        return value
    return None


def test_fifo_across_segments():
    chain = Chain()
    count = 3 * SEGMENT_SIZE + 5
    for i in range(count):
        chain.append(i)
    assert list(chain)[:3] == [0, 1, 2]
    assert [pull(chain) for _ in range(count)] == list(range(count))
    assert pull(chain) is None and chain.isEmpty()
    assert len(list(chain._segments())) == 1  # passed segments are left


def test_take_by_segment():
    chain = Chain()
    tokens = {i: chain.append(i) for i in range(SEGMENT_SIZE + 10)}
    chain.take(tokens[3], 3)
    chain.take(tokens[SEGMENT_SIZE + 1], SEGMENT_SIZE + 1)
    assert 3 not in list(chain) and SEGMENT_SIZE + 1 not in list(chain)
    assert len(list(chain)) == SEGMENT_SIZE + 8
    with pytest.raises(KeyError):
        chain.take(tokens[3], 3)


def test_empty_segments_are_passed_over():
    chain = Chain()
    tokens = {i: chain.append(i) for i in range(2 * SEGMENT_SIZE + 1)}
    for i in range(SEGMENT_SIZE):
        chain.take(tokens[i], i)
    assert chain.peek() == SEGMENT_SIZE
    assert chain.head is tokens[SEGMENT_SIZE]   # the reader moved on


@pytest.fixture
def two(clients):
    """Two clients that see the same committed chain of 3 entries."""
    a, b = clients(), clients()
    a.root['chain'] = Chain()
    for i in range(3):
        a.root['chain'].append(i)
    a.commit()
    b.abort()
    return a, b


def test_append_and_take_at_once_merge(two):
    # A short chain: the writer's and the reader's change hit the same
    # segment, and both commit.
    a, b = two
    assert pull(a.root['chain']) == 0
    b.root['chain'].append(3)
    a.commit()
    b.commit()
    a.abort()
    assert list(a.root['chain']) == [1, 2, 3]


def test_two_takes_of_the_same_entry_conflict(two):
    a, b = two
    assert pull(a.root['chain']) == pull(b.root['chain']) == 0
    a.commit()
    with pytest.raises(ConflictError):
        b.commit()


def test_takes_of_different_entries_merge(two):
    a, b = two
    chain = a.root['chain']
    chain.take(chain.head, 0)
    other = b.root['chain']
    other.take(other.head, 2)
    a.commit()
    b.commit()
    a.abort()
    assert list(a.root['chain']) == [1]


def test_a_reader_moving_the_head_and_another_taking_merge(clients):
    a, b = clients(), clients()
    chain = a.root['chain'] = Chain()
    for i in range(3 * SEGMENT_SIZE):
        chain.append(i)
    a.commit()
    b.abort()
    for i in range(SEGMENT_SIZE):            # empties the first segment
        assert pull(a.root['chain']) == i
    other = b.root['chain']
    other.take(other.head.next, SEGMENT_SIZE + 1)
    a.commit()
    b.commit()
    a.abort()
    chain = a.root['chain']
    assert chain.headSeq == 1
    assert list(chain)[:3] == [SEGMENT_SIZE, SEGMENT_SIZE + 2,
                               SEGMENT_SIZE + 3]


def test_heads_moved_at_once_keep_the_one_further_on():
    old = dict(head='s0', headSeq=0, tail='s3', _stateVersion=1)
    committed = dict(old, head='s1', headSeq=1)
    new = dict(old, head='s2', headSeq=2)
    merged = Chain._p_resolveConflict(None, old, committed, new)
    assert (merged['head'], merged['headSeq']) == ('s2', 2)
    merged = Chain._p_resolveConflict(None, old, new, committed)
    assert (merged['head'], merged['headSeq']) == ('s2', 2)


def test_reader_moving_on_and_writer_starting_a_segment_merge(clients):
    a, b = clients(), clients()
    chain = a.root['chain'] = Chain()
    for i in range(2 * SEGMENT_SIZE):
        chain.append(i)
    a.commit()
    b.abort()
    for i in range(SEGMENT_SIZE + 1):   # the reader moves the head on
        assert pull(a.root['chain']) == i
    b.root['chain'].append('new')       # the writer starts a segment
    a.commit()
    b.commit()
    a.abort()
    assert list(a.root['chain']) == \
        list(range(SEGMENT_SIZE + 1, 2 * SEGMENT_SIZE)) + ['new']


def test_an_append_to_a_segment_left_behind_conflicts(clients):
    """An append made with an old view to a segment that readers emptied
    and left: merging would lose the entry, so the commit conflicts, and
    the retry lands it.  (A chain has one writer, so this takes a second
    connection appending, which the service never does.)"""
    setup, stale, fresh, reader = clients(), clients(), clients(), clients()
    setup.root['chain'] = Chain()
    for i in range(SEGMENT_SIZE - 1):
        setup.root['chain'].append(i)
    setup.commit()
    for client in (stale, fresh, reader):
        client.abort()   # all see the chain one short of a full segment
    fresh.root['chain'].append('a')       # fills the segment
    fresh.commit()
    fresh.root['chain'].append('c')       # starts the next one
    fresh.commit()
    reader.abort()
    chain = reader.root['chain']
    assert [pull(chain) for _ in range(SEGMENT_SIZE + 1)][-2:] == ['a', 'c']
    assert pull(chain) is None            # the head has moved on
    reader.commit()
    stale.root['chain'].append('b')       # into the segment left behind
    with pytest.raises(ConflictError):
        stale.commit()
    stale.abort()
    stale.root['chain'].append('b')
    stale.commit()
    reader.abort()
    assert pull(reader.root['chain']) == 'b'


def newestFirst(chain, start=None):
    return [value for segment in chain.newestFirst(start)
            for value in reversed(segment.entries)]


def test_newest_first_over_a_chain_that_links_back():
    chain = Chain(linksBack=True)
    tokens = [chain.append(i) for i in range(3 * SEGMENT_SIZE + 5)]
    for _ in range(SEGMENT_SIZE + 3):       # the reader moves the head on
        pull(chain)
    assert newestFirst(chain) == list(reversed(list(chain)))
    middle = tokens[2 * SEGMENT_SIZE]
    assert newestFirst(chain, middle) == \
        list(range(3 * SEGMENT_SIZE - 1, SEGMENT_SIZE + 2, -1))


def test_newest_first_over_segments_made_before_chains_linked_back():
    chain = Chain()
    for i in range(2 * SEGMENT_SIZE + 7):
        chain.append(i)
    chain.linksBack = True                  # as `Lane.chain` turns it on
    for i in range(2 * SEGMENT_SIZE + 7, 4 * SEGMENT_SIZE):
        chain.append(i)
    pull(chain)
    assert newestFirst(chain) == list(range(4 * SEGMENT_SIZE - 1, 0, -1))


def test_what_the_head_left_is_garbage_a_pack_collects(db):
    import transaction
    from ZODB.POSException import POSKeyError
    connection = db.open()
    chain = connection.root()['chain'] = Chain(linksBack=True)
    for i in range(3 * SEGMENT_SIZE):
        chain.append(i)
    transaction.commit()
    left = chain.head._p_oid
    for _ in range(SEGMENT_SIZE + 1):
        pull(chain)
    transaction.commit()
    assert chain.head.prev is None
    db.pack()
    connection.cacheMinimize()
    with pytest.raises(POSKeyError):
        db.storage.load(left)
    assert newestFirst(chain) == list(range(3 * SEGMENT_SIZE - 1,
                                            SEGMENT_SIZE, -1))
    connection.close()


def test_a_reader_cutting_the_link_back_and_the_writer_appending_merge(
        clients):
    a, b = clients(), clients()
    chain = a.root['chain'] = Chain(linksBack=True)
    for i in range(2 * SEGMENT_SIZE - 1):
        chain.append(i)
    a.commit()
    b.abort()
    for i in range(SEGMENT_SIZE):     # the head moves to the tail segment
        assert pull(a.root['chain']) == i
    b.root['chain'].append('new')     # which the writer appends to
    a.commit()
    b.commit()
    a.abort()
    chain = a.root['chain']
    assert chain.head.prev is None
    assert newestFirst(chain) == \
        ['new'] + list(range(2 * SEGMENT_SIZE - 2, SEGMENT_SIZE - 1, -1))
