"""Conflict resolution as pure functions of (old, committed, new)."""
import pytest
from ZODB.POSException import ConflictError

from lovely.remotetask.store.merge import (
    mergeCounts, mergeEntries, mergeFields, mergeMapping, mergeSlots,
    mergeValue)


def test_entries_keep_both_appends_and_both_removals():
    assert mergeEntries((1, 2, 3), (2, 3, 4), (1, 2, 3, 5)) == (2, 3, 4, 5)
    assert mergeEntries((1, 2, 3), (1, 3), (2, 3)) == (3,)
    assert mergeEntries((), (1,), (2,)) == (1, 2)


def test_entries_refuse_the_same_removal_twice():
    with pytest.raises(ConflictError):
        mergeEntries((1, 2), (2,), (2,))


def test_value_takes_the_side_that_changed():
    assert mergeValue('a', 'a', 'b') == 'b'
    assert mergeValue('a', 'b', 'a') == 'b'
    assert mergeValue('a', 'b', 'b') == 'b'
    assert mergeValue(None, None, 'b') == 'b'
    with pytest.raises(ConflictError):
        mergeValue('a', 'b', 'c')


class Ref:
    """What conflict resolution sees of a persistent reference."""

    def __init__(self, oid):
        self.oid = oid

    def __eq__(self, other):
        raise TypeError('references compare only with themselves')


def test_references_compare_by_oid():
    assert mergeValue(Ref(1), Ref(1), Ref(2)).oid == 2
    with pytest.raises(ConflictError):
        mergeValue(Ref(1), Ref(2), Ref(3))


def test_mapping_merges_different_keys_and_refuses_the_same_one():
    old = {'a': 1, 'b': 2}
    assert mergeMapping(old, {'a': 1, 'b': 2, 'c': 3},
                        {'b': 2, 'd': 4}) == {'b': 2, 'c': 3, 'd': 4}
    with pytest.raises(ConflictError):   # both added the same key
        mergeMapping({}, {'k': 1}, {'k': 2})
    with pytest.raises(ConflictError):   # removed on one side, changed
        mergeMapping(old, {'b': 2}, {'a': 5, 'b': 2})
    assert mergeMapping(old, {'b': 2}, {'b': 2}) == {'b': 2}


def test_counts_add_their_changes():
    assert mergeCounts({'q': 5}, {'q': 6, 'c': 1}, {'q': 4, 'e': 2}) == \
        {'q': 5, 'c': 1, 'e': 2}
    assert mergeCounts({'q': 1}, {'q': 0}, {'q': 1}) == {}


def test_slots_merge_slot_by_slot():
    assert mergeSlots((None, None, 1), (2, None, 1), (None, 3, None)) == \
        (2, 3, None)
    with pytest.raises(ConflictError):
        mergeSlots((None,), (1,), (2,))


def test_fields_use_the_merge_named_for_an_attribute():
    merged = mergeFields({'n': 1, 'x': 'a'}, {'n': 3, 'x': 'a'},
                         {'n': 2, 'x': 'b'},
                         {'n': lambda o, c, n: c + n - o})
    assert merged == {'n': 4, 'x': 'b'}


def test_two_writers_closing_one_minute_merge_to_the_larger_counts():
    """Two transactions that finish jobs in a new minute both close the
    minute before, each with the counts it saw: no conflict (a cancel
    must not fail on a chart), and the larger of each count stays."""
    from lovely.remotetask.store.activity import ActivityLog
    old = {'minutes': {10: (1, 0, 0), 11: (2, 0, 0)}}
    committed = {'minutes': {11: (2, 0, 0), 12: (5, 1, 0)}}   # 10 too old
    new = {'minutes': {10: (1, 0, 0), 11: (2, 0, 0), 12: (4, 2, 0)}}
    merged = ActivityLog()._p_resolveConflict(old, committed, new)
    assert merged['minutes'] == {11: (2, 0, 0), 12: (5, 2, 0)}
