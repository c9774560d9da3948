"""Who adds a job, where the host knows: the principal is kept on the job
(`IJob.owner`), so that hosts can run it as that user and show whose it
is.  A host says who acts now by registering an `IPrincipalSource`
utility; with none, jobs have no owner."""
from typing import Optional

import zope.component

from lovely.remotetask.interfaces import IPrincipalSource


def currentPrincipal() -> Optional[str]:
    """The id of the principal acting now, or None."""
    source = zope.component.queryUtility(IPrincipalSource)
    return None if source is None else source()
