"""`appliance doctor`: the technician's checks (``checks`` for the kiosk itself, ``host`` for the
machine around it, ``upstream`` for the remote services), each answering with :class:`Check` rows."""

from .checks import CHECKS, Check, as_json, failed, run, table  # noqa: F401
