"""Logging for every process: one line per record on stderr (the journal),
tagged with the process's role, with configured secrets scrubbed out."""

from __future__ import annotations

import logging
import sys

from ..config import Settings


class SecretFilter(logging.Filter):
    """Replaces any configured token that slipped into a message."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            if any(secret in message for secret in self.secrets):
                for secret in self.secrets:
                    message = message.replace(secret, "********")
                record.msg, record.args = message, None
        return True


def setup(settings: Settings, role: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"%(asctime)s {role}[%(process)d] %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretFilter(settings.secrets()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.logging.level)
