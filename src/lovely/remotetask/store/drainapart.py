"""The drain after a commit: in a transaction of its own, where a
conflict (with another drain) costs nothing."""
import transaction

from lovely.remotetask import retrying
from lovely.remotetask.commits import afterCommit, forgo

#: Jobs in the intake at which a worker's transaction drains it.
DRAIN_AT = 16
#: The most jobs one drain takes: a flood added in one commit is sorted
#: in several short transactions.
DRAIN_MOST = 1000
#: The most drains in a row that one drain after a commit makes.
DRAIN_ROUNDS = 100


def drainAt(place: int) -> int:
    """Jobs in the intake at which the worker at `place` among the workers
    drains after a claim: the first at DRAIN_AT, the next ones later, so
    that workers claiming at once do not all drain at once (two drains
    conflict), and any of them drains when the first does not."""
    return DRAIN_AT * (1 + min(place, 3))


def drainAfterCommit(store) -> None:
    """Have the intake of `store` drained after the transaction commits,
    in one of its own (unless its caller drains: see `drainsItself`).  A
    store in no database drains at once."""
    if store._p_jar is None:
        store.drain()
        return
    db, oid = store._p_jar.db(), store._p_oid
    afterCommit(store, lambda: drainApart(db, oid), once=store)


def drainsItself(store) -> None:
    """Leave the moves of the transaction that changes `store` to its
    caller's drain: a worker drains by its place (see `drainAt`), and
    drains after the commits of every worker would meet each other."""
    forgo(store, once=store)


def drainApart(db, oid, attempts: int = 3) -> None:
    """Drain the intake of the store `oid` in a transaction of its own; a
    drain that conflicts (another drained) is left at that."""
    inRoundsApart(db, oid, lambda store: store.drainIfDue(DRAIN_AT),
                  DRAIN_ROUNDS, attempts)


def inRoundsApart(db, oid, step, rounds: int, attempts: int = 3) -> None:
    """`step(store)` on the store `oid`, each time in a transaction of its
    own, until it did nothing or `rounds` times; a round that conflicts
    `attempts` times (another went first) ends it: the next one will do."""
    tm = transaction.TransactionManager()
    connection = db.open(transaction_manager=tm)
    try:
        for _ in range(rounds):
            for attempt in retrying.attempts(tm, attempts):
                with attempt:
                    done = step(connection.get(oid))
            if not done:
                break
    except Exception:
        pass   # another went first, or the next one will do
    finally:
        tm.abort()
        connection.close()
