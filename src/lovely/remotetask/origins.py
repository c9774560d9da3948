"""Which site a browser's request comes from: a change that a page of
another site made a browser send, with the credentials the browser keeps
(HTTP Basic, a login cookie), is refused by the Web service and by the
Zope service alike."""
import urllib.parse
from typing import Optional


def crossSite(fetchSite: Optional[str], origin: Optional[str],
              host: str) -> Optional[str]:
    """Which of a request's ``Sec-Fetch-Site`` and ``Origin`` headers says
    that a page of another origin than `host` (``name:port``) made a
    browser send it, or None: a script sends neither."""
    if fetchSite is not None:
        return None if fetchSite == 'same-origin' else \
            f'Sec-Fetch-Site: {fetchSite[:40]}'
    if origin is None:
        return None
    try:
        parts = urllib.parse.urlsplit(origin)
        same = parts.scheme in _DEFAULT_PORTS and not parts.path and \
            _hostAndPort(parts.netloc, parts.scheme) == \
            _hostAndPort(host, parts.scheme)
    except ValueError:
        same = False
    return None if same else f'Origin: {origin[:60]}'


_DEFAULT_PORTS = {'http': 80, 'https': 443}


def _hostAndPort(netloc: str, scheme: str):
    parts = urllib.parse.urlsplit(f'//{netloc}')
    return parts.hostname, parts.port or _DEFAULT_PORTS[scheme]
