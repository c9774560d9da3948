"""Who adds a job: the host says, through an `IPrincipalSource` utility.

A host with users (Zope, Plone) registers a source that returns the id
of the user of the request in hand; `TaskService.add` stores it on the
job as its `owner`, and the host's tasks run as that user.  Without a
source, jobs have no owner.
"""
from typing import Optional

import zope.component

from lovely.remotetask.interfaces import IPrincipalSource


def currentPrincipal() -> Optional[str]:
    """The id of the principal acting now, or None (no source registered,
    or nobody known)."""
    source = zope.component.queryUtility(IPrincipalSource)
    return None if source is None else source()


def stampOwner(job) -> None:
    """Store the acting principal on a new job, if there is one (a job
    without an owner stores nothing)."""
    owner = currentPrincipal()
    if owner is not None:
        job.owner = owner
