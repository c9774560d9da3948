"""The options that commands share, each added the same way everywhere,
and the parser that says what is wrong in one line.

A command's own options are defined next to its action, in the module of
its group; `command` makes the parser of a command for scripts, with
``--db``, ``--json`` and (unless told) ``--service``.
"""
import argparse
import difflib
import re

from lovely.remotetask.cli import values
from lovely.remotetask.cli.common import USAGE, run
from lovely.remotetask.hosts.database import CONNECT_TIMEOUT
from lovely.remotetask.hosts.folder import APPLICATION_ROOT_KEY
from lovely.remotetask.interfaces import MAX_JOB_ID


class Parser(argparse.ArgumentParser):
    """Says what is wrong in one line, and where to read more when the
    problem is not a value.

    Options are taken as spelled, never abbreviated: an abbreviation that
    works today would change meaning when the command gains an option.
    An option that the command does not know is refused before any
    argument is read, with the option it may have meant: argparse would
    set it aside and read its value as the next positional argument, and
    say what is wrong with that instead.
    """

    def __init__(self, *args, **kw) -> None:
        #: The options this parser takes, in every spelling; and the one
        #: to suggest for a spelling folded (see `_folded`).
        self.options, self._shown = set(), {}
        self.hasCommands = False
        kw.setdefault('allow_abbrev', False)
        super().__init__(*args, **kw)

    def add_argument(self, *args, **kw):
        action = super().add_argument(*args, **kw)
        self.options.update(action.option_strings)
        if kw.get('help') != argparse.SUPPRESS:
            for option in action.option_strings:
                self._shown.setdefault(_folded(option), option)
        return action

    def add_subparsers(self, **kw):
        self.hasCommands = True
        return super().add_subparsers(**kw)

    def parse_known_args(self, args=None, namespace=None):
        if not self.hasCommands and args is not None:
            self._refuseUnknownOptions(args)
        return super().parse_known_args(args, namespace)

    def _refuseUnknownOptions(self, args) -> None:
        for arg in args:
            if arg == '--':
                break
            if not arg.startswith('-') or arg == '-' or ' ' in arg or \
                    _NUMBER.match(arg):
                continue        # a value, as argparse tells them apart
            name = arg.split('=', 1)[0] if arg.startswith('--') else arg
            if name not in self.options:
                meant = self._meant(name)
                self.error(f'unknown option {name}' + (
                    f'; did you mean {meant}?' if meant else ''))

    def _meant(self, name: str):
        """The option `name` may have meant: the one it spells otherwise
        or abbreviates, else the closest."""
        folded = _folded(name)
        if not folded:
            return None
        longer = [key for key in self._shown if key.startswith(folded)]
        close = longer if len(longer) == 1 else difflib.get_close_matches(
            folded, self._shown, n=1, cutoff=0.75)
        return self._shown[close[0]] if close else None

    def error(self, message):
        if not message.startswith('argument '):
            message += f' (see {self.prog} --help)'
        self.exit(USAGE, f'{self.prog}: {message}\n')


def _folded(option: str) -> str:
    """An option's name without dashes, underscores or case: --dayofmonth,
    --dayOfMonth and --day-of-month are one."""
    return option.lstrip('-').replace('-', '').replace('_', '').lower()


def addOption(parser, name: str, *aliases: str, **kw) -> None:
    """An option, and other spellings of it that work as it does but stay
    out of --help (the camelCase ones of before)."""
    action = parser.add_argument(name, **kw)
    kw.update(dest=action.dest, help=argparse.SUPPRESS)
    kw.pop('default', None)
    for alias in aliases:
        parser.add_argument(alias, **kw)


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
