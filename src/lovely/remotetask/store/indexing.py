"""The search index written apart: after the drains, in transactions of
its own.

A drain notes the jobs it filed in the index's `Notes` (a remover notes
the ids of the jobs it removed), and has them indexed after its commit
(`indexApart`).  So the drain writes none of the index's trees: on
RelStorage two drains that wrote them at once could deadlock on
PostgreSQL's row locks (each locks the rows it changed, then, in another
pass, those BTrees read as current), and PostgreSQL could pick an add
waiting on the intake as the victim.  The indexer writes the trees and
`Notes` alone; two indexers conflict on `Notes` (the later one is left
at that, the next takes what it left); an add never touches either.
"""
from lovely.remotetask.commits import afterCommit
from lovely.remotetask.store.drainapart import inRoundsApart
from lovely.remotetask.store.channels import REMOVED
from lovely.remotetask.store.search import SearchIndex, _index

__all__ = ['SearchIndex', 'drained', 'noteRemoved', 'pending',
           'indexNoted', 'indexApart', 'indexLater']

#: Removed jobs noted at which the remover has them unindexed after its
#: commit (the indexer also takes them after any drain).
INDEX_REMOVED_AT = 32
#: The most jobs (and removed ids) one transaction of the indexer takes.
INDEX_MOST = 500
#: The most transactions in a row that one indexing after a commit makes.
INDEX_ROUNDS = 200


def indexOf(store) -> SearchIndex:
    """The store's index; a store made before there was one gets it here
    (in a drain), with every job it has noted for the indexer."""
    index = _index(store)
    if index is None:
        index = store.search = SearchIndex()
        index.notes.note(jobs=tuple(store.jobsBelow()))
    return index


def drained(store, taken) -> None:
    """Note the jobs a drain filed (the last move of each) for the index,
    and have them indexed after the commit."""
    index = indexOf(store)
    # A job that moved again later is noted by the drain of that move.
    seen = {id(job) for job in store.intake.jobs}
    jobs = []
    for job in reversed(taken):
        if id(job) not in seen:
            seen.add(id(job))
            if job.status != REMOVED:
                jobs.append(job)
    index.notes.note(jobs=tuple(reversed(jobs)))
    indexLater(store)


def noteRemoved(store, job) -> None:
    """Note a removed job for the indexer to unindex; with many noted,
    have them unindexed after the commit."""
    index = _index(store)
    if index is not None:
        index.notes.note(removed=(job.id,))
        if len(index.notes.removed) >= INDEX_REMOVED_AT:
            indexLater(store)


def pending(store) -> int:
    """How many jobs and removed ids are noted for the indexer."""
    index = _index(store)
    return 0 if index is None else len(index.notes)


def indexLater(store) -> int:
    """Have what is noted indexed after the commit, in a transaction of
    its own (at once for a store in no database); 0."""
    index = _index(store)
    if index is None or not len(index.notes):
        return 0
    if store._p_jar is None:
        while indexNoted(store):
            pass
        return 0
    db, oid = store._p_jar.db(), store._p_oid
    afterCommit(store, lambda: indexApart(db, oid), once=index.notes)
    return 0


def indexNoted(store, most: int = INDEX_MOST) -> int:
    """Index the first `most` jobs noted (as they are now) and take out
    the first `most` removed; return how many there were."""
    index = _index(store)
    if index is None or not len(index.notes):
        return 0
    jobs, removed = index.notes.take(most)
    for jobid in removed:
        index.unindex(jobid)
    seen = set()
    for job in jobs:
        if id(job) not in seen:
            seen.add(id(job))
            if job.status == REMOVED:
                index.unindex(job.id)
            else:
                index.index(job)
    return len(jobs) + len(removed)


def indexApart(db, oid, attempts: int = 3) -> None:
    """Index what the store `oid` noted, in transactions of their own, a
    part at a time; a part that conflicts `attempts` times (another
    indexer took it) is left to the next."""
    inRoundsApart(db, oid, indexNoted, INDEX_ROUNDS, attempts)
