"""The worker processes, by name. Each is started by the supervisor as
``python -m appliance.workers NAME [--config PATH]``."""

from __future__ import annotations

import importlib

REGISTRY = {
    "gateway": "appliance.gateway.server:GatewayWorker",
    "camera": "appliance.workers.camera:CameraWorker",
    "dialogue": "appliance.workers.dialogue:DialogueWorker",
    "face": "appliance.workers.face:FaceWorker",
    "speech": "appliance.workers.speech:SpeechWorker",
    "liveness": "appliance.workers.liveness:LivenessWorker",
    "sync": "appliance.workers.sync:SyncWorker",
}


def worker_class(name: str):
    module, _, attr = REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), attr)
