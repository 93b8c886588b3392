"""The database key: from a file only its owner can read, or from a systemd credential
(`LoadCredential=db-key:/etc/kiosk-appliance/db.key` and `database.key_file = "credential:db-key"`)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..config import Settings
from ..runtime import endpoints
from .db import open_database


class DatabaseKeyError(ValueError):
    """The key file is missing, empty or readable by others."""


def read_key(spec: str) -> str | None:
    if not spec:
        return None
    if spec.startswith("credential:"):
        folder = os.environ.get("CREDENTIALS_DIRECTORY")
        if not folder:
            raise DatabaseKeyError(
                f"database.key_file = {spec!r} but systemd passed no credentials ($CREDENTIALS_DIRECTORY)"
            )
        path = Path(folder) / spec.split(":", 1)[1]
    else:
        path = Path(spec)
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            raise DatabaseKeyError(f"database key file {path}: {exc.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise DatabaseKeyError(
                f"database key file {path} is readable by others (mode {stat.S_IMODE(mode):o}); "
                f"chmod 600 {path}"
            )
    try:
        key = path.read_text().strip()
    except OSError as exc:
        raise DatabaseKeyError(f"database key file {path}: {exc.strerror}") from None
    if len(key) < 16:
        raise DatabaseKeyError(f"database key in {path} is shorter than 16 characters")
    return key


def open_settings(settings: Settings):
    """The kiosk's database as the settings say (path, encryption)."""
    return open_database(endpoints.database_path(settings.data_dir), read_key(settings.database.key_file))
