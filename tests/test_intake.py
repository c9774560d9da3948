"""The intake's conflict resolution, a pure function of three states,
against a model: any history of appends and drains by other writers
between a transaction's start and its commit, and whatever that
transaction did.  Nothing appended is lost or kept twice, and two drains
never both succeed."""
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ZODB.POSException import ConflictError

from lovely.remotetask.store.intake import Intake, mergeMinute

#: A step of others: append a job (by number; a job may move again),
#: drain everything, or drain the first few (a drain takes at most
#: ``DRAIN_MOST``).
steps = st.lists(st.one_of(st.integers(1, 6), st.just('drain'),
                           st.tuples(st.just('drain'), st.integers(0, 4))),
                 max_size=8)


def state(jobs, drains, counts=None):
    result = {'jobs': tuple(jobs), 'drains': drains}
    if counts:
        result['counts'] = counts
    return result


def replay(history, jobs=(), drains=0):
    """States after each step, and what each step appended or drained."""
    states = [state(jobs, drains)]
    appended, drained = Counter(jobs), Counter()
    for step in history:
        jobs, drains = states[-1]['jobs'], states[-1]['drains']
        if step == 'drain' or isinstance(step, tuple):
            cut = len(jobs) if step == 'drain' else step[1]
            drained.update(jobs[:cut])
            states.append(state(jobs[cut:], drains + 1))
        else:
            appended[step] += 1
            states.append(state(jobs + (step,), drains))
    return states, appended, drained


@settings(max_examples=500, deadline=None)
@given(before=steps, after=steps, start=st.integers(0, 8),
       ours=st.lists(st.integers(1, 6), max_size=3),
       drain=st.booleans(), cut=st.one_of(st.none(), st.integers(0, 4)),
       ownBeforeDrain=st.lists(st.integers(1, 6), max_size=2))
def test_merged_jobs_are_every_job_appended_and_not_drained(
        before, after, start, ours, drain, cut, ownBeforeDrain):
    states, _, _ = replay(before)
    old = states[min(start, len(states) - 1)]
    # Others go on from `old`; we start from it too.
    others, appended, drained = replay(after, old['jobs'], old['drains'])
    committed = others[-1]
    if not drain:
        ownBeforeDrain = []
    if drain:
        # We append, drain all we see (or its first `cut`), and append
        # again.
        seen = old['jobs'] + tuple(ownBeforeDrain)
        cut = len(seen) if cut is None else cut
        new = state(seen[cut:] + tuple(ours), old['drains'] + 1)
        weDrained = Counter(seen[:cut])
    else:
        new = state(old['jobs'] + tuple(ours), old['drains'])
        weDrained = Counter()
    try:
        merged = Intake()._p_resolveConflict(old, committed, new)
    except ConflictError:
        assert drain and committed['drains'] != old['drains']
        return
    expected = (appended + Counter(ours) + Counter(ownBeforeDrain)
                ) - drained - weDrained
    assert Counter(merged.get('jobs', ())) == expected
    # The count of drains goes on from the later side's: a drain that
    # meets the merged state meets every drain before.
    assert merged.get('drains', 0) == max(committed['drains'],
                                          new['drains'])
    assert not (drain and committed['drains'] != old['drains'])


def test_counts_of_both_sides_add_up():
    old = state((), 0, {'queued': 2})
    committed = state((7,), 0, {'queued': 3})
    new = state((8,), 0, {'queued': 1, 'processing': 1})
    merged = Intake()._p_resolveConflict(old, committed, new)
    assert merged['counts'] == {'queued': 2, 'processing': 1}
    assert merged['jobs'] == (7, 8)


@pytest.mark.parametrize('old, committed, new, merged', [
    ((), (5, 1, 0, 0), (5, 0, 1, 0), (5, 1, 1, 0)),
    ((5, 1, 0, 0), (5, 2, 0, 0), (5, 1, 0, 1), (5, 2, 0, 1)),
    # A side that began the next minute wins; the other's count for the
    # minute before is lost to the chart.
    ((5, 1, 0, 0), (6, 1, 0, 0), (5, 2, 0, 0), (6, 1, 0, 0)),
])
def test_minutes(old, committed, new, merged):
    assert mergeMinute(old, committed, new) == merged
