"""Chains stay sorted: an entry placed by a transaction that began
before others committed, drained after theirs, goes in its place; and
concurrent changes of a segment merge sorted."""
from lovely.remotetask.store.chains import SEGMENT_SIZE, Chain
from lovely.remotetask.store.merge import mergeSorted


def entries(chain):
    return [value for _, value in chain.entries()]


def test_a_late_entry_goes_in_its_place():
    chain = Chain(('completed',))
    chain.extend(list(range(10, 10 * (3 * SEGMENT_SIZE + 1), 10)))
    assert chain.tail.seq == 2
    chain.extend([15, 10 * SEGMENT_SIZE + 5, 10 ** 6])
    values = entries(chain)
    assert values == sorted(values)
    assert {15, 10 * SEGMENT_SIZE + 5, 10 ** 6} <= set(values)


def test_a_late_entry_older_than_the_head_goes_to_the_head():
    chain = Chain(('queued',))
    chain.extend(list(range(100, 100 + 2 * SEGMENT_SIZE)))
    for _ in range(SEGMENT_SIZE + 3):      # readers take the first ones
        chain.take(chain.head, chain.head.entries[0])
    assert chain.headSeq == 1
    chain.extend([5])
    assert entries(chain)[0] == 5 and chain.head.entries[0] == 5


def test_merged_entries_are_sorted():
    # One side took 2 and added 7 in its place, the other added 4.
    assert mergeSorted((1, 2, 3, 9), (1, 3, 7, 9), (1, 2, 3, 4, 9)) == \
        (1, 3, 4, 7, 9)
