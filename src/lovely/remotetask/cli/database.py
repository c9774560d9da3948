"""The command on the database as a whole: pack drops old history and the
finished jobs past their retention."""
from lovely.remotetask.cli import values
from lovely.remotetask.defaults import PACK_KEEP_MIN
from lovely.remotetask.cli.common import (
    FAILED, CommandError, output, run, say)
from lovely.remotetask.cli.options import (
    addCommon, addDatabase, addJson)
from lovely.remotetask.hosts.locate import applicationRoot, listServices
from lovely.remotetask.serialize import formatTime


def pack(target, args):
    """Remove the finished jobs past their retention of the services
    found, then pack the database: one pack at a time (see `packing`)."""
    from lovely.remotetask.runtime import packing
    from lovely.remotetask.exceptions import PackBusyError
    if not args.keep_old:
        _dropOldCopy(target.db.storage)
    root = applicationRoot(target.connection, args.root_key)
    # Every service: the pack expires their finished jobs past their
    # retention, and keeps the history their running jobs may need.
    services = [entry.service._p_oid for entry in listServices(root)]
    target.tm.abort()
    keep = PACK_KEEP_MIN if args.days is None else args.days * values.DAY
    try:
        result = packing.pack(target.db, keep, services=services)
    except PackBusyError as error:
        say(error)
        return FAILED
    except Exception as error:
        say(f'the pack failed: {type(error).__name__}: {error}')
        return FAILED
    output(args, result.asDict(),
           f'packed in {result.seconds:.1f} s: {_bytes(result.sizeBefore)} '
           f'-> {_bytes(result.sizeAfter)}; history before '
           f'{formatTime(result.packTime)} UTC dropped; {result.expired} '
           f'finished jobs past their retention removed first')


def _dropOldCopy(storage) -> None:
    """Make a FileStorage this command opened remove the copy a pack
    leaves (``Data.fs.old``), which would double the disk it takes."""
    from ZODB.FileStorage import FileStorage
    if not isinstance(storage, FileStorage):
        raise CommandError(
            '--no-keep-old is for a FileStorage the command opens (file:// '
            'or a path); a ZEO server keeps or removes Data.fs.old as its '
            'own configuration says ("pack-keep-old false")')
    storage.pack_keep_old = False


def _bytes(size) -> str:
    if size is None:
        return 'unknown'
    return f'{size / 1e6:.1f} MB' if size >= 1e6 else f'{size / 1e3:.1f} kB'


def addParsers(commands) -> None:
    help = ('pack the database: drop the history older than --days, and '
            'the finished jobs past their services\' retention')
    parser = commands.add_parser(
        'pack', help=help, description=help[0].upper() + help[1:] + '.',
        epilog='One pack runs at a time; a pack that finds another running '
        f'does nothing and exits with {FAILED}.')
    parser.set_defaults(command=lambda args: run(
        pack, args, write=True, service=False), parser=parser)
    addCommon(parser)
    addDatabase(parser)
    parser.add_argument('--days', default=None, metavar='N',
                        type=values.days(
                            leastSeconds=PACK_KEEP_MIN,
                            why='transactions that run while a pack works '
                                'may still read the history it drops'),
                        help='keep the history of the last N days (default: '
                        f'the last {PACK_KEEP_MIN:g} seconds, the least a '
                        'pack keeps)')
    parser.add_argument('--no-keep-old', dest='keep_old',
                        action='store_false',
                        help='remove the copy of a FileStorage that its '
                        'pack leaves (Data.fs.old) once the pack is done')
    addJson(parser, help='print what the pack did as JSON')
