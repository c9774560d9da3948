"""Checks of the Python API's arguments, in one place.

Each returns the value it was given, or raises InvalidArgumentError with a
message that names the argument and says what it takes, before anything
is changed.  (The command line and the Web API check their text first, and
say the same of it.)
"""
import math
import time
from typing import Optional

from lovely.remotetask.exceptions import InvalidArgumentError


def isNumber(value) -> bool:
    """Whether `value` is a finite int or float (bools are no numbers)."""
    return isinstance(value, (int, float)) and \
        not isinstance(value, bool) and math.isfinite(value)


def seconds(name: str, value, *, positive: bool = False,
            noneMeans: Optional[str] = None):
    """A finite number of seconds, above 0 if `positive`, else 0 or more;
    or None, where `noneMeans` says what None does."""
    if value is None and noneMeans is not None:
        return None
    if not isNumber(value) or (value <= 0 if positive else value < 0):
        takes = 'a positive number of seconds' if positive else \
            'a number of seconds, 0 or more'
        if noneMeans is not None:
            takes += f', or None {noneMeans}'
        raise InvalidArgumentError(f'{name} must be {takes}, not {value!r}')
    return value


def whole(name: str, value, low: int = 1, high: Optional[int] = None) -> int:
    """An int from `low` (to `high`, if given)."""
    if isinstance(value, bool) or not isinstance(value, int) or \
            value < low or (high is not None and value > high):
        bounds = f'of at least {low}' if high is None else \
            f'from {low} to {high}'
        raise InvalidArgumentError(f'{name} must be an int {bounds}, not '
                                   f'{value!r}')
    return value


def moment(now, name: str = 'now') -> float:
    """A time to act at, in epoch seconds: `now`, or the clock's if None."""
    if now is None:
        return time.time()
    if not isNumber(now):
        raise InvalidArgumentError(
            f'{name} must be a time in epoch seconds, not {now!r}')
    return now
