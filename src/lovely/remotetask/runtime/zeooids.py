"""Object ids a ZEO client fetched before its server restarted.

ZEO's ClientStorage fetches new object ids from its server a hundred at a
time and keeps the ones it has not used across a reconnect.  A server that
restarts hands out, again, every id past the last one committed, so after
a restart two clients can give the same id to two new objects.  The
storage refuses the second commit, but the client may have loaded the
other client's object already: its commit then fails with "A different
object already has the same oid", and the abort that follows disowns the
loaded object (ZODB's Connection._invalidate_creating drops whatever sits
in the cache under that id), which a later commit would store again under
a new id.  Our workers load every new job, so a chaos run over ZEO met it
within a minute of killing the server.

The cure is to forget the fetched ids when the connection comes back; the
client fetches fresh ones on its next new object.
"""

_MARK = '_lovelyForgetsOidsOnReconnect'


def forgetOidsOnReconnect(storage) -> bool:
    """Make a ZEO client `storage` drop its fetched object ids whenever it
    connects again; other storages are left alone.  True if `storage` is a
    ZEO client (now or already mended)."""
    try:
        from ZEO.ClientStorage import ClientStorage
    except ImportError:     # ZEO is not installed: no ZEO client either
        return False
    if not isinstance(storage, ClientStorage):
        return False
    if getattr(storage, _MARK, False):
        return True
    connected = storage.notify_connected

    def notify_connected(conn, info):
        del storage._oids[:]
        connected(conn, info)

    storage.notify_connected = notify_connected
    setattr(storage, _MARK, True)
    return True
