"""What users set on a service.

The settings live in an object of their own, so that setting one does not
change the service object, which every transaction on the service reads.
Services stored before this module was split out of `service` keep their
settings under that module's name, where `Settings` is imported too.
"""
from lovely.remotetask.defaults import MAX_STORED_SIZE, PACK_KEEP
from lovely.remotetask.store.versioning import Versioned


class Settings(Versioned):
    """A service's settings (`TaskService._settings`)."""

    # Settings added later: settings stored before read these.
    packEvery = None
    packKeep = PACK_KEEP

    def __init__(self) -> None:
        #: Seconds finished jobs are kept; None keeps them until `clean`.
        self.keepFinished = None
        #: Whether processors leave the service's jobs alone.
        self.paused = False
        #: The most bytes an input, result or error may take when stored.
        self.maxStoredSize = MAX_STORED_SIZE
        #: Seconds between packs of the database by the service's
        #: processors; None packs never (see `packing`).
        self.packEvery = None
        #: Seconds of history those packs keep.
        self.packKeep = PACK_KEEP


class Setting(property):
    """A service's attribute that lives in its `Settings`."""


def setting(name: str, doc: str, check=None) -> Setting:
    """The service's attribute `name`, read from and written to its
    settings, through `check` if given."""
    def set(self, value):
        setattr(self._settings, name,
                value if check is None else check(value))
    return Setting(lambda self: getattr(self._settings, name), set,
                   doc=doc)
