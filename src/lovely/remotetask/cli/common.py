"""What every command shares: its target (the database, opened for what
the command does, and the service), its exit statuses, its way of saying
what went wrong, and how it runs: bad input is one line on stderr and exit
status 2, a write that conflicts with other writers is tried again.

Each command is one transaction on its own connection (``clean`` and
``retry --all`` one per batch); ``--json`` prints what the JSON API would
answer, for scripts.  Commands that only read open the database
read-only, and only ``init`` makes a database that is not there.
"""
import importlib
import json
import logging
import sys

import transaction
import zope.component
from transaction.interfaces import TransientError
from ZEO.ClientStorage import ClientStorage

from lovely.remotetask.hosts.database import DatabaseError, openDatabase
from lovely.remotetask.exceptions import RemoteTaskError, quoted, shorten
from lovely.remotetask.interfaces import ITask
from lovely.remotetask.hosts.locate import (
    applicationRoot, findService, listServices)

# Exit statuses, the same for every command.
#: `result`: the job failed; `worker`: jobs still busy after the grace time.
FAILED = 1
#: Bad input, or a database out of reach: one line says which.
USAGE = 2
#: `result`: the job has not finished (or not within --timeout).
NOT_FINISHED = 3
#: `result`: the job was cancelled.
WAS_CANCELLED = 4
#: Interrupted by Ctrl-C (SIGINT), as shells count it.
INTERRUPTED = 130

#: How often a write command is tried when it conflicts with other writers.
ATTEMPTS = 3


class CommandError(Exception):
    """One line to print; the command exits 2."""


def importTasks(modules) -> None:
    """Import the modules that register tasks, or say which failed."""
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as error:
            raise CommandError(
                f'cannot import tasks module {quoted(module)}: '
                f'{type(error).__name__}: {shorten(str(error), 200)}'
            ) from None


class Target:
    """What a command works on: the database, opened for what the command
    does, and the service it names."""

    def __init__(self, args, write: bool, create: bool = False) -> None:
        try:
            self.db = openDatabase(args.db, args.connect_timeout,
                                   create=create, readOnly=not write)
        except DatabaseError as error:
            raise CommandError(str(error)) from None
        self.tm = transaction.TransactionManager()
        self.connection = self.db.open(transaction_manager=self.tm)
        self.service = self.entry = None

    @property
    def shared(self) -> bool:
        """Whether this process hears of other processes' commits."""
        storage = self.db.storage
        return isinstance(storage, ClientStorage) or \
            type(storage).__module__.startswith('relstorage.')

    def findService(self, args) -> None:
        root = applicationRoot(self.connection, args.root_key)
        entry = findService(root, args.service)
        if entry is None:
            known = shorten(', '.join(e.path for e in listServices(root)), 300)
            raise CommandError(
                f'no service {quoted(args.service)}; the database has: ' +
                (known or f'no services (remotetask init --service '
                          f'{shorten(args.service)} makes it)'))
        self.entry, self.service = entry, entry.service

    def services(self, args) -> list:
        """The entries of every service of the database, or of the one
        `args.service` names."""
        if getattr(args, 'service', None) is not None:
            self.findService(args)
            return [self.entry]
        return listServices(applicationRoot(self.connection, args.root_key))

    def commit(self) -> None:
        self.tm.commit()

    def refresh(self) -> None:
        self.tm.begin()

    def close(self) -> None:
        self.tm.abort()
        self.connection.close()
        self.db.close()


def run(command, args, write: bool, create: bool = False,
        service: bool = True, check=None) -> int:
    """Run `command(target, args)`.  Bad input, service errors and a
    database out of reach are one line on stderr and exit status 2; a
    write that conflicts with other writers is tried again."""
    target = None
    _quietLibraries()
    try:
        if check is not None:
            check(args)
        importTasks(args.tasks)
        target = Target(args, write, create)
        if service:
            target.findService(args)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return command(target, args) or 0
            except TransientError as error:
                target.tm.abort()
                if not write or attempt == ATTEMPTS:
                    raise CommandError(
                        f'{type(error).__name__}: the database was busy '
                        f'or went away ({error}); nothing more was '
                        f'changed, try again') from None
    except (CommandError, RemoteTaskError) as error:
        say(error)
        return USAGE
    finally:
        if target is not None:
            target.close()


def _quietLibraries() -> None:
    """Keep the warnings that storages log (a server out of reach, say)
    off stderr: a command ends with one line that says what went wrong."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())


def output(args, data, text) -> None:
    print(json.dumps(data, indent=1) if args.json else text)


def say(line) -> None:
    print(f'remotetask: {" ".join(str(line).split())}', file=sys.stderr)


def unknownTask(error, args) -> CommandError:
    """The line for a task that no module of --tasks registered."""
    names = sorted(name for name, _ in
                   zope.component.getUtilitiesFor(ITask))
    given = ' '.join(f'--tasks {module}' for module in args.tasks)
    registered = (f'; {given} registered ' if given else
                  '; registered here: ') + (', '.join(names) or 'none')
    return CommandError(f'no task named {quoted(error.name)} is '
                        f'registered: name the module that registers it '
                        f'with --tasks MODULE{registered}')


def getJob(target, jobid):
    job = target.service.jobs.get(jobid)
    if job is None:
        raise CommandError(f'no job with id {jobid}')
    return job


def oneLine(text) -> str:
    """`text` on one line: a listing stays a listing."""
    return ' '.join(str(text).split())


def duration(seconds: float) -> str:
    """A span of time for people: 3 ms, 2.5 s, 12 s, 5 min 3 s, 2 h 5 min,
    3 d 4 h."""
    if seconds < 1:
        return f'{max(seconds, 0) * 1000:.0f} ms'
    if seconds < 10:
        return f'{seconds:.1f} s'
    seconds = int(seconds)
    for unit, size, smaller, smallerSize in (
            ('d', 86400, 'h', 3600), ('h', 3600, 'min', 60),
            ('min', 60, 's', 1)):
        if seconds >= size:
            rest = (seconds % size) // smallerSize
            return f'{seconds // size} {unit}' + (
                f' {rest} {smaller}' if rest else '')
    return f'{seconds} s'
