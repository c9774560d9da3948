"""The command that serves the Web service: serve runs the dashboard, the
JSON API and XML-RPC with waitress, and processes the jobs.

The Web stack is the optional 'web' extra: it is imported when serve
runs; its settings (which load without it) give the defaults.
"""
import ipaddress
import logging
import os
import signal
import sys

from lovely.remotetask.hosts import autostart
from lovely.remotetask.cli.common import CommandError, importTasks
from lovely.remotetask.cli.options import addCommon
from lovely.remotetask.cli.workers import StopSignals, stopProcessing
from lovely.remotetask.hosts.database import DatabaseError, openDatabase
from lovely.remotetask.defaults import GRACE_TIME


def serve(args) -> int:
    """Serve the dashboard, the JSON API and XML-RPC, and process jobs."""
    from lovely.remotetask.web import demo, makeApp

    importTasks(args.tasks)
    if args.demo:
        demo.registerTasks()
    credentials, token = _credentials(args)
    uri = args.db
    if uri is None:
        os.makedirs('var', exist_ok=True)
        uri = 'file://' + os.path.abspath(os.path.join('var', 'Data.fs'))
    try:
        db = openDatabase(uri, args.connect_timeout)
    except DatabaseError as error:
        raise CommandError(str(error)) from None
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format='%(asctime)s %(levelname)s %(name)s %(message)s')
    server = None
    try:
        if args.demo:
            demo.setUp(db, args.root_key)
        app = makeApp(db, credentials=credentials, rootKey=args.root_key,
                      maxBodySize=args.max_body)
        server = _server(app, args)
        started = autostart.bootstrap(db, args.autostart, args.root_key) \
            if args.autostart.strip() else []
        _announce(args, server, uri, started, token)

        def stop(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        server.run()   # until SIGINT or SIGTERM
        signals = StopSignals()
        signals.install()
        return stopProcessing(args.grace, signals)
    finally:
        if server is not None:
            server.close()
        db.close()


def _credentials(args):
    """The credentials to serve with, and the token made for them when
    none were given (on loopback only), else None."""
    from lovely.remotetask.web.auth import Credentials, CredentialsError
    try:
        credentials = (Credentials.fromFile(args.credentials)
                       if args.credentials else Credentials.fromEnvironment())
    except (OSError, CredentialsError) as error:
        raise CommandError(f'cannot use the credentials: {error}') from None
    if credentials:
        return credentials, None
    try:
        loopback = args.host == 'localhost' or \
            ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise CommandError(
            f'refusing to serve on {args.host} without credentials: set '
            f'REMOTETASK_MANAGE_TOKEN (and REMOTETASK_READ_TOKEN) or give '
            f'--credentials FILE')
    return Credentials.generate()


def _server(app, args):
    from lovely.remotetask.web import serving
    try:
        return serving.createServer(
            app, host=args.host, port=args.port, threads=args.threads,
            connectionLimit=args.connection_limit,
            channelTimeout=args.channel_timeout,
            maxBodySize=args.max_body, maxHeaderSize=args.max_header)
    except serving.ServerError as error:
        raise CommandError(str(error)) from None
    except OSError as error:
        raise CommandError(f'cannot listen on {args.host}:{args.port}: '
                           f'{error}') from None


def _announce(args, server, uri, started, token) -> None:
    host = f'[{args.host}]' if ':' in args.host else args.host
    url = f'http://{host}:{server.effective_port}/'
    print(f'remotetask: serving {uri} at {url}', flush=True)
    print(f'remotetask: processing {", ".join(started) or "nothing"}',
          flush=True)
    if token is not None:
        print(f'remotetask: open {url}login?token={token}', flush=True)
    elif args.demo:
        print(f'remotetask: open {url}', flush=True)


def addParsers(commands) -> None:
    from lovely.remotetask.web import serving, settings
    web = commands.add_parser(
        'serve', help='serve the dashboard, JSON API and XML-RPC',
        description='Serve the task services of a database over HTTP with '
        'waitress, and run their jobs in this process.  Credentials come '
        'from REMOTETASK_MANAGE_TOKEN and REMOTETASK_READ_TOKEN (comma-'
        'separated tokens) or --credentials; on loopback without any, a '
        'token is made and printed in a login URL.')
    web.set_defaults(command=serve)
    addCommon(web)
    web.add_argument('--db', metavar='URI', default=None,
                     help='the database (default: a FileStorage at '
                     './var/Data.fs)')
    web.add_argument('--host', default=settings.HOST,
                     help='the address to listen on (default '
                     f'{settings.HOST})')
    web.add_argument('--port', type=serving.portNumber,
                     default=settings.PORT,
                     help=f'the port (default {settings.PORT}; 0 picks a '
                     'free one)')
    web.add_argument('--demo', action='store_true',
                     help='register demo tasks and add a demo service with '
                     'jobs and a cron job')
    web.add_argument('--autostart', default='*@*', metavar='DIRECTIVES',
                     help='the services to process in this process, as for '
                     'autostart (default *@*; "" for none)')
    web.add_argument('--credentials', metavar='FILE',
                     help='a file of "manage TOKEN" and "read TOKEN" lines')
    _addLimits(web, serving, settings)
    web.add_argument('--grace', type=float, default=GRACE_TIME,
                     metavar='SECONDS',
                     help='how long stopping waits for the jobs in hand')


def _addLimits(web, serving, settings) -> None:
    web.add_argument('--max-body', type=serving.count,
                     default=settings.MAX_BODY_SIZE, metavar='BYTES',
                     help='the largest request body taken (default '
                     f'{settings.MAX_BODY_SIZE})')
    web.add_argument('--max-header', type=serving.count,
                     default=settings.MAX_HEADER_SIZE, metavar='BYTES',
                     help='the most bytes of request line and headers '
                     f'taken (default {settings.MAX_HEADER_SIZE})')
    web.add_argument('--threads', type=serving.count,
                     default=settings.THREADS,
                     metavar='N', help='threads serving requests (default '
                     f'{settings.THREADS})')
    web.add_argument('--connection-limit', type=serving.count,
                     default=settings.CONNECTION_LIMIT, metavar='N',
                     help='connections open at once, idle ones included; '
                     'more wait to be accepted (default '
                     f'{settings.CONNECTION_LIMIT})')
    web.add_argument('--channel-timeout', type=serving.count,
                     default=settings.CHANNEL_TIMEOUT, metavar='SECONDS',
                     help='how long a connection may stay silent, idle or '
                     'in the middle of a request, before it is closed '
                     f'(default {settings.CHANNEL_TIMEOUT})')
