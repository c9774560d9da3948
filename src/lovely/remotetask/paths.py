"""Service paths and autostart directives as text (see `locate`): names
joined by dots, the characters ``. @ , * %`` in a name percent-encoded,
and the seed's ``site@name`` directives."""
from typing import List, Optional, Tuple

from lovely.remotetask.exceptions import InvalidArgumentError

_SPECIAL = {'%': '%25', '.': '%2E', '@': '%40', ',': '%2C', '*': '%2A'}


def quoteName(name: str) -> str:
    """A name as one step of a path."""
    return ''.join(_SPECIAL.get(char, char) for char in name)


def unquoteName(text: str) -> str:
    for char, escape in _SPECIAL.items():
        if char != '%':
            text = text.replace(escape, char).replace(escape.lower(), char)
    return text.replace('%25', '%')


def joinPath(names) -> str:
    return '.'.join(quoteName(name) for name in names)


def splitPath(path: str) -> List[str]:
    """The names of a dotted path; a bad path is an InvalidArgumentError."""
    if not isinstance(path, str) or not path:
        raise InvalidArgumentError(
            f'a service path is a non-empty string, not {path!r}')
    steps = path.split('.')
    if '' in steps:
        raise InvalidArgumentError(f'the path {path!r} has an empty name')
    return [unquoteName(step) for step in steps]


def parseDirective(text: str) -> Tuple[Optional[List[str]], str]:
    """Split ``site@name`` (or a path ``a.b.name``) into the site's names
    (None for ``*``, [] for the application root) and the service name
    (``*`` for every one)."""
    parts = text.split('@')
    if not text:
        raise InvalidArgumentError(
            f'invalid autostart directive {text!r}: expected site@service')
    if len(parts) == 1:
        names = splitPath(text)
        if '*' in names:
            raise InvalidArgumentError(
                f'{text!r}: a path has no wildcards, write site@*')
        return names[:-1], names[-1]
    if len(parts) != 2 or not parts[1]:
        raise InvalidArgumentError(
            f'invalid autostart directive {text!r}: expected site@service')
    site, name = parts
    if name != '*':
        name = unquoteName(name)
        if '.' in parts[1]:
            raise InvalidArgumentError(
                f'{text!r}: the service of site@service is a name, not a '
                f'path')
    if site == '*':
        return None, name
    return ([] if not site else splitPath(site)), name
