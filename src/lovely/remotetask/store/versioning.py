"""Stored state with a version, so that later code can read older pickles.

Each persistent class of this package stores the version of its state
layout, from 1, and only when above 1: most objects are written at every
step of a job, and a version that says nothing new costs bytes.  A class
that changes how it stores its state raises `_stateVersion` and adds a
step to `_migrations`: a function from the state of the version before to
its own, applied in `__setstate__` as the object is loaded.  Such steps
change plain state only; they cannot make new persistent objects, which
every connection loading the object would make anew.
"""
import persistent

from lovely.remotetask.exceptions import RemoteTaskError


class Versioned(persistent.Persistent):
    """A persistent object whose stored state says which layout wrote it."""

    _stateVersion = 1
    #: version -> function(state) giving the state of version + 1.
    _migrations = {}

    def __getstate__(self):
        state = super().__getstate__()
        if type(self)._stateVersion > 1:
            state = dict(state, _v=type(self)._stateVersion)
        return state

    def __setstate__(self, state):
        current = type(self)._stateVersion
        version = state.get('_v', 1) if state else 1
        if version != current:
            state = _migrated(type(self), dict(state or {}), version)
        elif version > 1:
            state = dict(state)
        if version > 1 or version != current:
            state.pop('_v', None)
        super().__setstate__(state)


def _migrated(cls, state: dict, version: int) -> dict:
    current = cls._stateVersion
    if version > current:
        raise RemoteTaskError(
            f'{cls.__name__} was stored by a newer version of '
            f'lovely.remotetask (state version {version}, this one reads '
            f'up to {current}); upgrade lovely.remotetask')
    while version < current:
        migrate = cls._migrations.get(version)
        if migrate is None:
            raise RemoteTaskError(
                f'{cls.__name__} state version {version} cannot be read by '
                f'this version of lovely.remotetask')
        state = migrate(state)
        version += 1
    return state
