"""The worker processes, by name: the one registry. Each is started by the supervisor as
``python -m appliance.workers NAME [--config PATH] [--spare]``.

The order is the default start order (the gateway last: it opens the ports once the
workers behind them run). ``supervisor.workers`` accepts exactly these names
(config.sections.KNOWN_WORKERS is this registry's keys). Adding a worker means: its
module, one entry here, its settings section; its bus operation names go in ops.py.

Kept free of imports: the settings load this module to know the names.
"""

from __future__ import annotations

import importlib

REGISTRY = {
    "camera": "appliance.workers.camera:CameraWorker",
    "dialogue": "appliance.workers.dialogue:DialogueWorker",
    "face": "appliance.workers.face:FaceWorker",
    "liveness": "appliance.workers.liveness:LivenessWorker",
    "speech": "appliance.workers.speech:SpeechWorker",
    "sync": "appliance.workers.sync:SyncWorker",
    "gateway": "appliance.gateway.server:GatewayWorker",
}


def worker_class(name: str):
    module, _, attr = REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), attr)
