"""The options that commands share, each added the same way everywhere,
and the parser that says what is wrong in one line.

A command's own options are defined next to its action, in the module of
its group; `command` makes the parser of a command for scripts, with
``--db``, ``--json`` and (unless told) ``--service``.
"""
import argparse
import re

from lovely.remotetask.cli import values
from lovely.remotetask.cli.common import USAGE, run
from lovely.remotetask.database import CONNECT_TIMEOUT
from lovely.remotetask.folder import APPLICATION_ROOT_KEY
from lovely.remotetask.service import MAX_JOB_ID


class Parser(argparse.ArgumentParser):
    """Says what is wrong in one line, and where to read more when the
    problem is not a value."""

    def error(self, message):
        if not message.startswith('argument '):
            message += f' (see {self.prog} --help)'
        self.exit(USAGE, f'{self.prog}: {message}\n')


positive = values.seconds(positive=True)
jobId = values.integer(0, MAX_JOB_ID, 'a job id')
taskName = values.word('the name of a task')
servicePath = values.word('a service path')


def addCommon(parser) -> None:
    """What every command takes, the same way."""
    parser.add_argument('--tasks', action='append', default=[],
                        metavar='MODULE',
                        type=values.word('a module name'),
                        help='a module that registers tasks (repeatable)')
    parser.add_argument('--root-key', default=APPLICATION_ROOT_KEY,
                        type=values.rootKey,
                        help='the key of the application root in the '
                        f'database root (default {APPLICATION_ROOT_KEY}); '
                        'without one there, or with "", service paths start '
                        'at the database root')
    parser.add_argument('--connect-timeout', type=positive,
                        default=CONNECT_TIMEOUT, metavar='SECONDS',
                        help='how long to wait for a database server')


def addDatabase(parser, help: str = 'the database: a FileStorage file\'s '
                'path, file:///path/Data.fs, zeo://host:port, '
                'postgres://user@host/dbname, ...') -> None:
    """The ``--db URI`` option, the same in every command that needs a
    database."""
    parser.add_argument('--db', required=True, metavar='URI',
                        type=values.word('a database URI or path',
                                         anyBytes=True),
                        help=help)


def addJson(parser, help: str = 'print JSON, as the API answers') -> None:
    parser.add_argument('--json', action='store_true', help=help)


def command(commands, name, function, help, write, epilog=None,
            service=True, **options):
    """The parser of a command for scripts, which runs `function(target,
    args)` (see `common.run`); with `service` it needs ``--service``."""
    parser = commands.add_parser(name, help=help, epilog=epilog,
                                 description=help[0].upper() + help[1:]
                                 + '.')
    addCommon(parser)
    addDatabase(parser)
    addJson(parser)
    if service:
        addServicePath(parser)
    parser.set_defaults(command=lambda args: run(
        function, args, write, service=service, **options), parser=parser)
    return parser


def addServicePath(parser, required: bool = True,
                   help: str = 'the service: its path, as site.name (or '
                   'site@name)') -> None:
    parser.add_argument('--service', required=required, metavar='PATH',
                        type=servicePath, help=help)


def addJobId(parser, **options) -> None:
    parser.add_argument('jobid', type=jobId, metavar='JOBID', **options)


def takeLateInput(args, extras) -> list:
    """Take a job's input given after options (``add TASK --priority 5
    INPUT``), which argparse leaves over when the positional before it
    stood alone; return what is still left over."""
    if len(extras) != 1 or getattr(args, 'input', True) is not None or \
            (extras[0].startswith('-') and not _NUMBER.match(extras[0])):
        return extras
    try:
        args.input = values.jsonInput(extras[0])
    except argparse.ArgumentTypeError as error:
        args.parser.error(f'argument input: {error}')
    return []


_NUMBER = re.compile(r'^-\d|^-\.\d')
