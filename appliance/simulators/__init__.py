"""Simulators of the remote systems the appliance calls (PROTOCOL.md §2): the SE
box's recognition feed (sebox) and the Tencent-style face API (tencent).
Tests and technicians run them as ``appliance simulate sebox|tencent``."""
