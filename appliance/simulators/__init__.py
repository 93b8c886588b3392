"""Simulators of the remote systems the appliance calls (PROTOCOL.md §2), one
module each: the SE box's recognition feed (sebox), the Tencent-style face API
(tencent), the silent-liveness API (liveness_api).  Tests and technicians run
them as ``appliance simulate …`` or ``python -m appliance.simulators.<name>``."""
