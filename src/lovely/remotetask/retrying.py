"""Trying a transaction again when it fails for passing reasons.

`attempts` is `transaction`'s own `TransactionManager.attempts()` (which
asks the error and every data manager of the transaction whether another
try may succeed: conflicts, a database server that is restarting), with
waits between the tries that grow, with jitter, so that transactions that
failed together do not try again together, and with a time limit.  Every
step of this package that is tried again goes through it.
"""
import random
import threading
import time
from typing import Iterator, Optional

# The context manager of transaction's attempts(): it commits, and decides
# with the manager whether an error is worth another try.
from transaction._manager import Attempt


class Backoff:
    """Waits that grow while something keeps failing for passing reasons,
    with jitter."""

    def __init__(self, first: float = 0.001, limit: float = 1.0) -> None:
        self.first, self.limit = first, limit
        self.next = 0.0

    def reset(self) -> None:
        self.next = 0.0

    def wait(self, event: Optional[threading.Event] = None) -> None:
        """Wait the next pause (none the first time); an `event` set ends
        it early."""
        if self.next:
            pause = self.next * random.uniform(0.5, 1.5)
            if event is None:
                time.sleep(pause)
            else:
                event.wait(pause)
        self.next = min(self.limit, max(self.first, 2 * self.next))


def attempts(tm, tries: int = 3, *, timeout: Optional[float] = None,
             first: float = 0.001, limit: float = 1.0) -> Iterator:
    """Like ``tm.attempts(tries)``: yield context managers, each running
    its body in a transaction and committing it, until one succeeds; the
    last raises what made it fail.  Tries after the first wait first;
    with `timeout`, the first try after that many seconds is the last."""
    backoff = Backoff(first, limit)
    deadline = None if timeout is None else time.monotonic() + timeout
    tried = 0
    while True:
        backoff.wait()
        tried += 1
        if tried >= tries or (deadline is not None and
                              time.monotonic() >= deadline):
            yield tm
            return
        attempt = Attempt(tm)
        yield attempt
        if attempt.success:
            return


def commitOrRetry(tm, step, *args, tries: int = 1000,
                  timeout: Optional[float] = None, **options):
    """`step(*args)` in a transaction of `tm`, committed, tried again
    (see `attempts`) while it fails for passing reasons; its result."""
    for attempt in attempts(tm, tries, timeout=timeout, **options):
        with attempt:
            result = step(*args)
    return result
