"""Doing something once a transaction commits: the one place for it.

Waking a processor for new jobs, asking a running job to stop and sending
events must happen only if the transaction that called for them commits,
and then after it.  The transaction is the one that changes the service:
its connection's, or, for a service in no database yet, the thread's.
"""
import transaction


def _transactionOf(service):
    jar = service._p_jar
    return (jar.transaction_manager if jar is not None
            else transaction.manager).get()


def afterCommit(service, callback, once=None) -> None:
    """Call `callback()` after the transaction that changes `service`
    commits, not at all if it aborts; with `once`, a key, at most once per
    transaction for that key (and not at all after `forgo`)."""
    txn = _transactionOf(service)
    if once is not None and not _firstTime(txn, once):
        return
    txn.addAfterCommitHook(lambda committed: committed and callback())


def forgo(service, once) -> None:
    """Have `afterCommit(service, ..., once=once)` call nothing after the
    transaction that changes `service`: its caller sees to that itself."""
    _firstTime(_transactionOf(service), once)


def _firstTime(txn, key) -> bool:
    """Whether `key` is new to `txn`; it is not after this."""
    try:
        txn.data(key)
        return False
    except KeyError:
        txn.set_data(key, True)
        return True


def pendingOnCommit(service, key, factory):
    """The value kept under `key` for the transaction that changes
    `service`, made when first asked for by `factory()`, which returns the
    value and what to call once the transaction commits."""
    txn = _transactionOf(service)
    try:
        return txn.data(key)
    except KeyError:
        value, callback = factory()
        txn.set_data(key, value)
        txn.addAfterCommitHook(lambda committed: committed and callback())
        return value
