"""The command line: ``remotetask COMMAND`` (or ``python -m
lovely.remotetask``); docs/cli.rst shows the commands.

One module per group of commands, each command's parser next to its
action: `workers` (worker, zeo), `web` (serve), `services` (init,
services, workers, pause, resume), `jobs` (add, start, cancel, retry,
jobs, clean), `schedules` (cron, run-now), `results` (status, result,
show) and `database` (pack).  What they share: `common` (the
target of a command, exit statuses, errors), `options` (the options
taken the same way everywhere) and `values` (the types of arguments).

Bad input never shows a traceback: it is one line on stderr that names the
argument, and exit status 2 (`common` lists the other statuses).
"""
import sys
from typing import List, Optional

from lovely.remotetask.cli import (
    database, flows, jobs, results, schedules, services, web, workers)
from lovely.remotetask.cli.common import (
    INTERRUPTED, USAGE, CommandError)
from lovely.remotetask.cli.options import Parser, takeLateInput

__all__ = ['main']

#: The groups of commands, in the order `remotetask --help` lists them.
GROUPS = (workers, web, services, jobs, schedules, results, flows,
          database)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line `argv`; return its exit status."""
    for stream in (sys.stdout, sys.stderr):
        # Names from the command line may hold bytes that are not text
        # (surrogates); they are shown escaped, not as a UnicodeEncodeError.
        if hasattr(stream, 'reconfigure'):
            stream.reconfigure(errors='backslashreplace')
    try:
        parser = _parser()
        args, extras = parser.parse_known_args(argv)
        extras = takeLateInput(args, extras)
        if extras:
            parser.error(f'unrecognized arguments: {" ".join(extras)}')
    except SystemExit as done:          # --help, --version, or bad input
        return done.code or 0
    try:
        return args.command(args)
    except CommandError as error:
        print(f'remotetask: {error}', file=sys.stderr)
        return USAGE
    except KeyboardInterrupt:
        print('remotetask: interrupted', file=sys.stderr)
        return INTERRUPTED


def _version() -> str:
    import importlib.metadata
    import platform

    import ZODB
    try:
        version = importlib.metadata.version('lovely.remotetask')
    except importlib.metadata.PackageNotFoundError:
        version = 'unknown'
    zodb = getattr(ZODB, '__version__', None) or \
        importlib.metadata.version('ZODB')
    return (f'remotetask {version} (ZODB {zodb}, Python '
            f'{platform.python_version()})')


def _parser() -> Parser:
    parser = Parser(
        prog='remotetask', description='Run and serve lovely.remotetask '
        'task services, and speak to them from scripts.')
    parser.add_argument('--version', action='version', version=_version())
    commands = parser.add_subparsers(required=True, metavar='COMMAND')
    for group in GROUPS:
        group.addParsers(commands)
    return parser
