"""The service: `TaskService`, the 2009 API over the store (see
`taskservice`), and the new API beside it."""
from lovely.remotetask.service.taskservice import TaskService

__all__ = ['TaskService', 'bootStrapSubscriber', 'getAutostartServiceNames']


def __getattr__(name):
    # The seed imported its autostart from this module; autostart is a
    # host's business and lives in `hosts`, a layer above: these two
    # names are looked up only when asked for.
    if name in ('bootStrapSubscriber', 'getAutostartServiceNames'):
        from lovely.remotetask.hosts import autostart
        return getattr(autostart, name)
    raise AttributeError(name)
