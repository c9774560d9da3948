"""Stored state with a version, so that later code can read older pickles.

Each persistent class of this package stores `_stateVersion`.  A class
that changes how it stores its state raises its version and adds a step to
`_migrations`: a function from the state of the version before to its
own, applied in `__setstate__` as the object is loaded.  Such steps change
plain state only; they cannot make new persistent objects, which every
connection loading the object would make anew.
"""
import persistent

from lovely.remotetask.exceptions import RemoteTaskError


class Versioned(persistent.Persistent):
    """A persistent object whose stored state says which version wrote it."""

    _stateVersion = 1
    #: version -> function(state) giving the state of version + 1.  State
    #: stored before versions were kept is read as version 1's.
    _migrations = {0: dict}

    def __setstate__(self, state):
        current = type(self)._stateVersion
        if state and state.get('_stateVersion') == current:
            # Most loads: nothing to migrate, and no copy to make.
            return super().__setstate__(state)
        state = dict(state or {})
        version = state.get('_stateVersion', 0)
        if version > current:
            raise RemoteTaskError(
                f'{type(self).__name__} was stored by a newer version of '
                f'lovely.remotetask (state version {version}, this one reads '
                f'up to {current}); upgrade lovely.remotetask')
        while version < current:
            migrate = type(self)._migrations.get(version)
            if migrate is None:
                raise RemoteTaskError(
                    f'{type(self).__name__} state version {version} cannot '
                    f'be read by this version of lovely.remotetask')
            state = migrate(state)
            version += 1
        state['_stateVersion'] = current
        super().__setstate__(state)

    def _initState(self) -> None:
        self._stateVersion = type(self)._stateVersion
