"""The values of the command line's arguments: a type for each kind.

Each parses one argument's text and checks its range, so that bad input
ends the command before it opens a database, with one line that names the
argument (argparse puts ``argument --threads:`` before the message) and
says what it takes.  Values quoted back are shortened: a 5,000-digit
number makes a line of an error, not a page.
"""
import argparse
import json
import math
import re
import shlex
from typing import Callable, Collection

from lovely.remotetask.exceptions import (
    InvalidArgumentError, ScheduleError, quoted)
from lovely.remotetask.serialize import STATUS_ALIASES, statusNamed
from lovely.remotetask.store.search import checkTags, queryWords
from lovely.remotetask.timing.schedule import parseFieldText

#: Seconds in a day: the most that a time-out, lease or grace time takes.
DAY = 24 * 60 * 60

#: How deep the JSON input of a job may nest; deeper is refused before it
#: is parsed (the parser recurses, and a listing shows no deeper anyway).
MAX_INPUT_DEPTH = 50

#: The most characters a number of the JSON input may have: converting
#: longer digit strings costs quadratic time, and a number that long is
#: better sent as a string.
MAX_NUMBER_LENGTH = 100

_Type = Callable[[str], object]


def _refuse(what: str, text: str):
    raise argparse.ArgumentTypeError(f'must be {what}, not {quoted(text)}')


def integer(low: int, high: int, what: str = 'a whole number') -> _Type:
    """A whole number from `low` to `high`."""
    def parse(text):
        text = text.strip()
        if not re.fullmatch(r'[+-]?\d{1,20}', text) or \
                not low <= int(text) <= high:
            _refuse(f'{what} from {low} to {high}', text)
        return int(text)
    return parse


def seconds(low: float = 0.0, high: float = DAY, *,
            positive: bool = False) -> _Type:
    """A number of seconds: from `low` (excluded with `positive`) to
    `high`."""
    what = (f'a number of seconds above {low:g}' if positive else
            f'a number of seconds from {low:g}') + f' to {high:g}'

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            _refuse(what, text)
        if not math.isfinite(value) or value > high or value < low or \
                (positive and value == low):
            _refuse(what, text)
        return value
    return parse


def days(high: float = 3650.0, *, leastSeconds: float = 0.0,
         why: str = '') -> _Type:
    """A number of days, from `leastSeconds` (0 unless `why` says why not)
    to `high`."""
    if leastSeconds:
        what = (f'a number of days up to {high:g} that keeps at least '
                f'{leastSeconds:g} seconds ({leastSeconds / DAY:.2g} days: '
                f'{why})')
    else:
        what = f'a number of days from 0 to {high:g}'

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            _refuse(what, text)
        if not leastSeconds / DAY <= value <= high:      # NaN fails too
            _refuse(what, text)
        return value
    return parse


def word(what: str, anyBytes: bool = False) -> _Type:
    """Any text but an empty one; with `anyBytes` (for file names), also
    bytes that are not UTF-8."""
    def parse(text):
        if not text.strip():
            raise argparse.ArgumentTypeError(f'must be {what}, not empty')
        if not anyBytes:
            _checkUtf8(text)
        return text
    return parse


def rootKey(text: str) -> str:
    """The key of the application root: '' for the database root itself."""
    return text if text == '' else word('a key, or "" for the database '
                                        'root')(text)


def _checkUtf8(text: str) -> None:
    # Python gives bytes of the command line that are not UTF-8 as lone
    # surrogates, which no JSON, XML-RPC or page can show.
    try:
        text.encode('utf-8')
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(
            f'holds bytes that are not UTF-8: {quoted(text)}') from None


def choice(choices: Collection[str], what: str, plural: str) -> _Type:
    """One of `choices`; the message lists them, quoted for a shell."""
    def parse(text):
        if text not in choices:
            raise argparse.ArgumentTypeError(
                f'unknown {what} {quoted(text)}; the {plural} are '
                f'{", ".join(shlex.quote(c) for c in choices)}')
        return text
    return parse


def status(choices: Collection[str], what: str, plural: str) -> _Type:
    """One of the statuses `choices`, or another name of one ("failed",
    as the dashboard says, for "error")."""
    aliases = [f'{alias} for {name}' for alias, name in
               STATUS_ALIASES.items() if name in choices]
    named = choice(choices, what, plural)

    def parse(text):
        found = statusNamed(text)
        if found in choices:
            return found
        try:
            return named(text)
        except argparse.ArgumentTypeError as error:
            if not aliases:
                raise
            raise argparse.ArgumentTypeError(
                f'{error} (or {", ".join(aliases)})') from None
    return parse


def scheduleField(name: str) -> _Type:
    """A schedule field as people write it (``0,30``, ``9-17``, ``*``),
    as a tuple."""
    def parse(text):
        try:
            return parseFieldText(name, text)
        except ScheduleError as error:
            # argparse names the option before the message: not the field
            # again, in the API's spelling.
            message = str(error)
            if message.startswith(f'{name} '):
                message = message[len(name) + 1:]
            raise argparse.ArgumentTypeError(message) from None
    return parse


def moment(text: str) -> float:
    """A time: ISO 8601 (UTC unless it says its offset) or epoch seconds."""
    text = text.strip()
    try:
        return float(text) if re.fullmatch(r'\d{1,12}(\.\d*)?', text) \
            else _isoMoment(text)
    except ValueError:
        _refuse('a time, as 2030-01-31T08:00+01:00 (UTC if no offset) or '
                'in epoch seconds', text)


def _isoMoment(text: str) -> float:
    import datetime
    if text[-1:] in 'Zz':
        text = text[:-1] + '+00:00'      # (Python 3.10 takes no Z)
    when = datetime.datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.timestamp()


def cursor(text: str) -> str:
    """The cursor of a page of a listing, as the page before printed it."""
    from lovely.remotetask.store.listing import parseCursor
    try:
        parseCursor(text)
    except ValueError:
        _refuse('the cursor of a page, as the page before printed it', text)
    return text


def jsonInput(text: str):
    """The input of a job: a JSON value, nested at most MAX_INPUT_DEPTH
    deep, with numbers of at most MAX_NUMBER_LENGTH characters."""
    _checkUtf8(text)
    depth = _depth(text)
    if depth > MAX_INPUT_DEPTH:
        raise argparse.ArgumentTypeError(
            f'the JSON nests {depth} deep; the most is {MAX_INPUT_DEPTH}')
    try:
        return json.loads(text, parse_int=_number(int),
                          parse_float=_number(float),
                          parse_constant=_constant)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(_notJson(text, error)) from None
    except (ValueError, RecursionError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _depth(text: str) -> int:
    """How deep the arrays and objects of JSON `text` nest, counted without
    parsing it (strings skipped)."""
    deepest = depth = 0
    for bracket in re.findall(r'"(?:[^"\\]|\\.)*"?|([\[\]{}])', text):
        if bracket in ('[', '{'):
            depth += 1
            deepest = max(deepest, depth)
        elif bracket:
            depth -= 1
    return deepest


def _number(convert):
    def parse(text):
        if len(text) > MAX_NUMBER_LENGTH:
            raise ValueError(
                f'the JSON holds a number of {len(text)} characters; the most '
                f'is {MAX_NUMBER_LENGTH}: send a longer one as a string')
        return convert(text)
    return parse


def _constant(name):
    raise ValueError(f'the JSON holds {name}, which JSON does not allow')


def _notJson(text: str, error: json.JSONDecodeError) -> str:
    message = f'is not JSON ({error})'
    if text.strip() and text.strip()[0] not in '[{"-0123456789':
        # A word or a sentence: the user meant a string.
        asShell = shlex.quote(json.dumps(text, ensure_ascii=False))
        if len(asShell) > 60:
            asShell = "'\"...\"'"
        message += (f'; a string needs JSON\'s double quotes inside the '
                    f'shell\'s: {asShell}')
    return message


def tag(text: str) -> str:
    """A tag, as `ITaskService.add` takes them."""
    try:
        checkTags([text])
    except InvalidArgumentError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def searchWords(text: str) -> str:
    """Words to search jobs by (see `ITaskService.jobsPage`)."""
    try:
        if not queryWords(text):
            raise InvalidArgumentError(
                'search must have a word (letters, digits, _)')
    except InvalidArgumentError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text
