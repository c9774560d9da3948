"""The command line: ``remotetask COMMAND`` (or ``python -m
lovely.remotetask``); docs/cli.rst shows the commands.

A worker process imports the modules that register the tasks, opens the
database and runs the processors of the services its directives name, until
SIGTERM or SIGINT; then it stops claiming, finishes the jobs in hand within
a grace period, records them and exits.

Bad input never shows a traceback: it is one line on stderr that names the
argument, and exit status 2 (`commands` lists the other statuses).
"""
import argparse
import logging
import signal
import sys
import time
from typing import List, Optional


from lovely.remotetask import arguments, commands, parsers
from lovely.remotetask.hosts import autostart, zeoserver
from lovely.remotetask.runtime import processing
from lovely.remotetask.commands import CommandError as UsageError
from lovely.remotetask.commands import importTasks
from lovely.remotetask.hosts.database import (
    CONNECT_TIMEOUT, DatabaseError, openDatabase)
from lovely.remotetask.exceptions import quoted
from lovely.remotetask.hosts.folder import APPLICATION_ROOT_KEY
from lovely.remotetask.runtime.processor import WAIT_TIME, MultiProcessor
from lovely.remotetask.defaults import LEASE_TIME

#: Seconds a stopping worker gives the jobs in hand to finish.
GRACE_TIME = 30.0

#: The most jobs `worker --threads` runs at once: each holds a thread and a
#: database connection.
MAX_THREADS = 256

log = logging.getLogger('lovely.remotetask')

#: The worker's exit status when tasks that ignore their time limits pile
#: up: its supervisor should start a fresh worker, which ends them.
RECYCLE = 3
#: Seconds a processor may stay blocked by such tasks before the worker
#: exits.
RECYCLE_AFTER = 5.0


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
        extras = parsers.takeLateInput(args, extras)
        if extras:
            parser.error(f'unrecognized arguments: {" ".join(extras)}')
    except SystemExit as done:          # --help, --version, or bad input
        return done.code or 0
    try:
        return args.command(args)
    except UsageError as error:
        print(f'remotetask: {error}', file=sys.stderr)
        return commands.USAGE
    except KeyboardInterrupt:
        print('remotetask: interrupted', file=sys.stderr)
        return commands.INTERRUPTED


class _Parser(argparse.ArgumentParser):
    """Says what is wrong in one line, and where to read more when the
    problem is not a value."""

    def error(self, message):
        if not message.startswith('argument '):
            message += f' (see {self.prog} --help)'
        self.exit(commands.USAGE, f'{self.prog}: {message}\n')


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


def worker(args) -> int:
    importTasks(args.tasks)
    try:
        db = openDatabase(args.db, args.connect_timeout, create=False)
    except DatabaseError as error:
        raise UsageError(str(error)) from None
    # Logging starts once the input was found good: bad input is one line.
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format='%(asctime)s %(levelname)s %(name)s %(message)s')
    # The handlers only note the signal: one that took a lock (as
    # Event.set does) could wait for ever on a lock the main thread held
    # when the signal came.
    signalled = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, frame: signalled.append(signum))
    try:
        overrides = dict(leaseTime=args.lease, waitTime=args.wait_time)
        factory = None
        if args.threads is not None:
            factory, overrides['maxThreads'] = MultiProcessor, args.threads
        started = autostart.bootstrap(db, args.services, args.root_key,
                                      factory, **overrides)
        if not started:
            known = ', '.join(autostart.listServices(db, args.root_key))
            raise UsageError(
                f'no service matches {quoted(args.services)}; '
                f'the database has: '
                f'{known or "no services"}')
        if args.metrics_port is not None:
            from lovely.remotetask import metrics
            metrics.serve(db, args.metrics_port, rootKey=args.root_key,
                          services=f'*@*,{args.services}')
        for oid in processing.serviceOids(db)[:1]:
            zeoserver.checkResolution(db, oid)
        log.info('worker running %s; SIGTERM stops it', ', '.join(started))
        status = 0
        while not signalled:
            time.sleep(0.1)   # a signal cuts it short
            if processing.blocked() > RECYCLE_AFTER:
                log.critical('tasks that ignored their time limits keep '
                             'running: the worker exits (status %s) for a '
                             'fresh one to start', RECYCLE)
                status = RECYCLE
                break
        log.info('stopping: finishing the jobs in hand (at most %s s)',
                 args.grace)
        unfinished = processing.shutdown(timeout=args.grace)
        if unfinished:
            log.error('%s still busy after %s s; their jobs were given back',
                      ', '.join(unfinished), args.grace)
            return status or 1
        return status
    finally:
        db.close()


def zeoServer(args) -> int:
    from lovely.remotetask.hosts import zeoserver
    zeoserver.serve(args.address, args.db)   # runzeo sets up its logging
    return 0


def serve(args) -> int:
    """Serve the dashboard, the JSON API and XML-RPC, and process jobs."""
    # Imported here: the Web stack is the optional 'web' extra.
    import ipaddress
    import os

    from lovely.remotetask.web import demo, makeApp, serving
    from lovely.remotetask.web.auth import Credentials, CredentialsError

    importTasks(args.tasks)
    if args.demo:
        demo.registerTasks()
    try:
        credentials = (Credentials.fromFile(args.credentials)
                       if args.credentials else Credentials.fromEnvironment())
    except (OSError, CredentialsError) as error:
        raise UsageError(f'cannot use the credentials: {error}') from None
    token = None
    if not credentials:
        try:
            loopback = args.host == 'localhost' or \
                ipaddress.ip_address(args.host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise UsageError(
                f'refusing to serve on {args.host} without credentials: set '
                f'REMOTETASK_MANAGE_TOKEN (and REMOTETASK_READ_TOKEN) or give '
                f'--credentials FILE')
        credentials, token = Credentials.generate()
    uri = args.db
    if uri is None:
        os.makedirs('var', exist_ok=True)
        uri = 'file://' + os.path.abspath(os.path.join('var', 'Data.fs'))
    try:
        db = openDatabase(uri, args.connect_timeout)
    except DatabaseError as error:
        raise UsageError(str(error)) from None
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format='%(asctime)s %(levelname)s %(name)s %(message)s')
    server = None
    try:
        if args.demo:
            demo.setUp(db, args.root_key)
        app = makeApp(db, credentials=credentials, rootKey=args.root_key,
                      maxBodySize=args.max_body)
        try:
            server = serving.createServer(
                app, host=args.host, port=args.port, threads=args.threads,
                connectionLimit=args.connection_limit,
                channelTimeout=args.channel_timeout,
                maxBodySize=args.max_body, maxHeaderSize=args.max_header)
        except serving.ServerError as error:
            raise UsageError(str(error)) from None
        except OSError as error:
            raise UsageError(f'cannot listen on {args.host}:{args.port}: '
                             f'{error}') from None
        started = autostart.bootstrap(db, args.autostart, args.root_key) \
            if args.autostart.strip() else []
        host = f'[{args.host}]' if ':' in args.host else args.host
        url = f'http://{host}:{server.effective_port}/'
        print(f'remotetask: serving {uri} at {url}', flush=True)
        print(f'remotetask: processing {", ".join(started) or "nothing"}',
              flush=True)
        if token is not None:
            print(f'remotetask: open {url}login?token={token}', flush=True)
        elif args.demo:
            print(f'remotetask: open {url}', flush=True)

        def stop(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        server.run()   # until SIGINT or SIGTERM
        log.info('stopping: finishing the jobs in hand (at most %s s)',
                 args.grace)
        unfinished = processing.shutdown(timeout=args.grace)
        if unfinished:
            log.error('%s still busy after %s s; their jobs were given back',
                      ', '.join(unfinished),
                      args.grace)
            return 1
        return 0
    finally:
        if server is not None:
            server.close()
        db.close()


def _directives(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError('no directives given')
    return text


_positive = arguments.seconds(positive=True)


def _parser():
    parser = _Parser(
        prog='remotetask', description='Run and serve lovely.remotetask '
        'task services, and speak to them from scripts.')
    parser.add_argument('--version', action='version', version=_version())
    subparsers = parser.add_subparsers(required=True, metavar='COMMAND')
    # What every command takes, the same way.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('--tasks', action='append', default=[],
                        metavar='MODULE',
                        type=arguments.word('a module name'),
                        help='a module that registers tasks (repeatable)')
    common.add_argument('--root-key', default=APPLICATION_ROOT_KEY,
                        type=arguments.rootKey,
                        help='the key of the application root in the '
                        f'database root (default {APPLICATION_ROOT_KEY}); '
                        'without one there, or with "", service paths start '
                        'at the database root')
    common.add_argument('--connect-timeout', type=_positive,
                        default=CONNECT_TIMEOUT, metavar='SECONDS',
                        help='how long to wait for a database server')
    run = subparsers.add_parser(
        'worker', parents=[common],
        help='run the jobs of services in this process',
        description='Run the processors of the services that the directives '
        'name until SIGTERM or SIGINT.')
    run.set_defaults(command=worker)
    arguments.addDatabase(run)
    run.add_argument('--services', required=True, type=_directives,
                     metavar='DIRECTIVES',
                     help='comma-separated service paths (site1.Svc) or '
                     'site@service directives, as for autostart: @Svc, '
                     'site1@*, *@*')
    run.add_argument('--grace', type=arguments.seconds(), default=GRACE_TIME,
                     metavar='SECONDS',
                     help='how long a stopping worker waits for the jobs '
                     f'in hand (default {GRACE_TIME:g})')
    run.add_argument('--lease', type=_positive, default=LEASE_TIME,
                     metavar='SECONDS',
                     help='how long this worker\'s jobs stay its own after '
                     f'its last heartbeat (default {LEASE_TIME:g})')
    run.add_argument('--wait-time', type=_positive, default=WAIT_TIME,
                     metavar='SECONDS',
                     help='how often an idle worker looks for cron jobs '
                     'that came due, and over RelStorage for new jobs; '
                     'over ZEO it hears of them at once '
                     f'(default {WAIT_TIME:g})')
    run.add_argument('--threads', type=arguments.integer(1, MAX_THREADS),
                     metavar='N',
                     help='run up to N jobs at once (MultiProcessor); by '
                     'default each service\'s own processor')
    run.add_argument('--metrics-port', type=arguments.integer(1, 65535),
                     metavar='PORT',
                     help='serve Prometheus metrics on 127.0.0.1:PORT '
                     '(needs prometheus_client)')
    from lovely.remotetask.web import settings as webSettings
    web = subparsers.add_parser(
        'serve', parents=[common],
        help='serve the dashboard, JSON API and XML-RPC',
        description='Serve the task services of a database over HTTP with '
        'waitress, and run their jobs in this process.  Credentials come '
        'from REMOTETASK_MANAGE_TOKEN and REMOTETASK_READ_TOKEN (comma-'
        'separated tokens) or --credentials; on loopback without any, a '
        'token is made and printed in a login URL.')
    web.set_defaults(command=serve)
    from lovely.remotetask.web import serving as webServing
    web.add_argument('--db', metavar='URI', default=None,
                     help='the database (default: a FileStorage at '
                     './var/Data.fs)')
    web.add_argument('--host', default=webSettings.HOST,
                     help='the address to listen on (default '
                     f'{webSettings.HOST})')
    web.add_argument('--port', type=webServing.portNumber,
                     default=webSettings.PORT,
                     help=f'the port (default {webSettings.PORT}; 0 picks a '
                     'free one)')
    web.add_argument('--demo', action='store_true',
                     help='register demo tasks and add a demo service with '
                     'jobs and a cron job')
    web.add_argument('--autostart', default='*@*', metavar='DIRECTIVES',
                     help='the services to process in this process, as for '
                     'autostart (default *@*; "" for none)')
    web.add_argument('--credentials', metavar='FILE',
                     help='a file of "manage TOKEN" and "read TOKEN" lines')
    web.add_argument('--max-body', type=webServing.count,
                     default=webSettings.MAX_BODY_SIZE, metavar='BYTES',
                     help='the largest request body taken (default '
                     f'{webSettings.MAX_BODY_SIZE})')
    web.add_argument('--max-header', type=webServing.count,
                     default=webSettings.MAX_HEADER_SIZE, metavar='BYTES',
                     help='the most bytes of request line and headers '
                     f'taken (default {webSettings.MAX_HEADER_SIZE})')
    web.add_argument('--threads', type=webServing.count,
                     default=webSettings.THREADS,
                     metavar='N', help='threads serving requests (default '
                     f'{webSettings.THREADS})')
    web.add_argument('--connection-limit', type=webServing.count,
                     default=webSettings.CONNECTION_LIMIT, metavar='N',
                     help='connections open at once, idle ones included; '
                     'more wait to be accepted (default '
                     f'{webSettings.CONNECTION_LIMIT})')
    web.add_argument('--channel-timeout', type=webServing.count,
                     default=webSettings.CHANNEL_TIMEOUT, metavar='SECONDS',
                     help='how long a connection may stay silent, idle or '
                     'in the middle of a request, before it is closed '
                     f'(default {webSettings.CHANNEL_TIMEOUT})')
    web.add_argument('--grace', type=float, default=GRACE_TIME,
                     metavar='SECONDS',
                     help='how long stopping waits for the jobs in hand')
    zeo = subparsers.add_parser(
        'zeo', help='run a ZEO server that resolves this package\'s '
        'conflicts',
        description='Run a ZEO server in this environment, where '
        'lovely.remotetask is importable: over ZEO, concurrent changes are '
        'merged by the server, which needs the classes that merge them.')
    zeo.set_defaults(command=zeoServer)
    zeo.add_argument('--address', required=True, metavar='[HOST:]PORT',
                     type=arguments.word('an address'),
                     help='where to listen, e.g. 127.0.0.1:8100')
    zeo.add_argument('--db', required=True, metavar='PATH',
                     type=arguments.word('a file path', anyBytes=True),
                     help='the FileStorage file it serves')
    parsers.addParsers(subparsers, common)
    return parser
