"""Reading values out of requests, each parser total.

Whatever a client sends (a number of five thousand digits, JSON nested a
thousand deep, ``NaN``, a lone surrogate, a value of the wrong type) ends
in a value or in an `HTTPError` 400 that names what was wrong; never in an
exception that would make a 500.  What a message quotes of the request is
cut short, so that an error does not echo a megabyte back.

Job ids and the parameters of a listing (status, cursor, page size, task)
are read here once for the JSON API, XML-RPC and the dashboard.
"""
import json
import re
from typing import Optional

from lovely.remotetask.interfaces import MAX_JOB_ID
from lovely.remotetask.serialize import STATUS_ALIASES, STATUSES, statusNamed
from lovely.remotetask.store.listing import parseCursor
from lovely.remotetask.store.search import MAX_QUERY_LENGTH
from lovely.remotetask.web import settings
from lovely.remotetask.web.errors import HTTPError

#: The most characters of a client's value that a message quotes.
QUOTED = 40


def shown(value) -> str:
    """`value` as a message quotes it: its repr, cut to `QUOTED` characters.

    repr escapes control characters and lone surrogates, so the message
    can go into any header, page or XML answer.
    """
    if isinstance(value, str) and len(value) > QUOTED:
        return f'{value[:QUOTED]!r}... ({len(value)} characters)'
    text = repr(value)
    if len(text) > QUOTED + 2:
        return f'{text[:QUOTED]}... ({len(text)} characters)'
    return text


def intValue(text, name: str, low: int, high: int) -> int:
    """`text` (a request's string) as an int in [`low`, `high`]: ASCII
    digits, a minus sign before them at most, as an integer is written
    in JSON (int() would take blanks, '+', '_' and other scripts' digits,
    which no schema can say)."""
    value = None
    if isinstance(text, str) and len(text) <= settings.MAX_NUMBER_LENGTH \
            and _INTEGER.fullmatch(text):
        value = int(text)
    if value is None or not low <= value <= high:
        message = f'{name} must be an int in {low}-{high}, not {shown(text)}'
        raise HTTPError(400, message, fields={name: message})
    return value


def intParameter(query, name: str, default: Optional[int], low: int,
                 high: int, emptyIsMissing: bool = True) -> Optional[int]:
    """The query parameter `name` as an int in [`low`, `high`], or the
    default when it is missing (or, with `emptyIsMissing`, as the
    dashboard's forms send it, empty)."""
    text = query.get(name)
    if text is None or (text == '' and emptyIsMissing):
        return default
    return intValue(text, name, low, high)


_INTEGER = re.compile(r'-?[0-9]+')


#: Job ids are the keys of 32-bit BTrees: ints in [0, 2**31).


def parseJobId(text: str) -> int:
    jobid = None
    if len(text) <= settings.MAX_NUMBER_LENGTH:
        try:
            jobid = int(text)
        except ValueError:
            pass
    if jobid is None:
        raise HTTPError(400, f'a job id is an int, not {shown(text)}')
    if not 0 <= jobid <= MAX_JOB_ID:
        raise HTTPError(404, f'no job with id {jobid}: job ids are in '
                        f'[0, 2**31)')
    return jobid


def pageParameters(query, emptyIsMissing: bool = True) -> dict:
    """The keywords of ``jobsPage`` in a listing's query string (status,
    after, limit, task), checked.  A status or limit given empty is
    missing with `emptyIsMissing` (the dashboard's forms send them so),
    else refused (the API's schema says what they take)."""
    status = query.get('status')
    if status == '' and emptyIsMissing:
        status = None
    if status is not None:
        status = statusParameter(status)
    after = query.get('after') or None
    if after is not None:
        try:
            parseCursor(after)
        except ValueError:
            message = f'after must be the cursor of a page, not ' \
                f'{shown(after)}'
            raise HTTPError(400, message, fields=dict(after=message))
    limit = intParameter(query, 'limit', settings.PAGE_SIZE, 1,
                         settings.MAX_PAGE_SIZE, emptyIsMissing)
    return dict(status=status, after=after, limit=limit,
                task=taskParameter(query), **searchParameters(query))


def searchParameters(query) -> dict:
    """The tag and the words (``q``) a listing is filtered by: None for
    none given (or given empty)."""
    found = {}
    for name, most in (('tag', settings.MAX_FIELD_LENGTH),
                       ('q', MAX_QUERY_LENGTH)):
        value = query.get(name, '')
        if len(value) > most:
            message = f'{name} is {len(value)} characters long; at most ' \
                f'{most} are taken'
            raise HTTPError(400, message, fields={name: message})
        found[name] = value.strip() or None
    return dict(tag=found['tag'], search=found['q'])


def statusParameter(text) -> str:
    """The status `text` names: one of STATUSES, or another name of one
    ("failed", as the dashboard says, for "error")."""
    status = statusNamed(text)
    if status is None:
        aliases = ', '.join(f'{alias} for {name}'
                            for alias, name in STATUS_ALIASES.items())
        message = f'unknown status {shown(text)}; the statuses are ' \
            f'{", ".join(STATUSES)} (or {aliases})'
        raise HTTPError(400, message, fields=dict(status=message))
    return status


def taskParameter(query):
    """The task name a listing is filtered by, or None."""
    task = query.get('task', '').strip() or None
    if task is not None and len(task) > settings.MAX_FIELD_LENGTH:
        message = f'task is {len(task)} characters long; at most ' \
            f'{settings.MAX_FIELD_LENGTH} are taken'
        raise HTTPError(400, message, fields=dict(task=message))
    return task


class _Refused(ValueError):
    pass


def _parseInt(text: str) -> int:
    if len(text) > settings.MAX_NUMBER_LENGTH:
        raise _Refused(f'a number of {len(text)} digits; at most '
                       f'{settings.MAX_NUMBER_LENGTH} are taken')
    return int(text)


def _parseConstant(name: str):
    raise _Refused(f'{name} is not a JSON value')


def loadJSON(text, what: str):
    """The JSON value of `text` (str or bytes), checked: not deeper than
    `settings.MAX_DEPTH`, no number longer than
    `settings.MAX_NUMBER_LENGTH`, no ``NaN`` or ``Infinity``.

    `what` names the text in messages: "the body", "the input".
    """
    try:
        value = json.loads(text, parse_int=_parseInt,
                           parse_constant=_parseConstant)
    except _Refused as error:
        raise HTTPError(400, f'{what} is refused: {error}') from None
    except RecursionError:
        raise _tooDeep(what) from None
    except ValueError as error:   # JSONDecodeError, UnicodeDecodeError
        raise HTTPError(400, f'{what} is not valid JSON: {error}') from None
    checkDepth(value, what)
    return value


def checkDepth(value, what: str) -> None:
    """HTTPError 400 if `value` nests lists, tuples and dicts deeper than
    `settings.MAX_DEPTH`; looked at without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > settings.MAX_DEPTH:
            raise _tooDeep(what)
        stack.extend((child, depth + 1) for child in children)


def _tooDeep(what):
    return HTTPError(400, f'{what} nests deeper than '
                     f'{settings.MAX_DEPTH} levels, the most taken')


def wholeNumber(value):
    """`value`, as an int if it is a float without a fraction: JSON
    Schema counts 5.0 an integer, and so does the API."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
