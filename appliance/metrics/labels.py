"""Label values of low cardinality only: a label never carries a user id, a name, an ID number or a hash.

Every value that comes from a reply passes through ``safe`` against a closed list, or the pattern of a
code word (lowercase ASCII, short); anything else becomes "other". Imported by the supervisor: no
prometheus_client here.
"""

from __future__ import annotations

import re

OTHER = "other"
_CODE_WORD = re.compile(r"[a-z][a-z_]{0,31}")
"""Reasons and field names of the code itself: letters and underscores, no digits (no id, no hash)."""

RESTART_REASONS = ("died", "not_ready", "no_heartbeat", "stuck")


def safe(value: object, allowed: tuple[str, ...] | frozenset[str] | None = None) -> str:
    """`value` when it is one of `allowed` (or, without a list, a code word), else "other"."""
    if not isinstance(value, str):
        return OTHER
    if allowed is not None:
        return value if value in allowed else OTHER
    return value if _CODE_WORD.fullmatch(value) else OTHER


def restart_reason(why: str) -> str:
    """The supervisor's sentence for a restart as one of RESTART_REASONS."""
    for prefix, reason in (
        ("died", "died"),
        ("not ready", "not_ready"),
        ("no heartbeat", "no_heartbeat"),
        ("a request stuck", "stuck"),
    ):
        if why.startswith(prefix):
            return reason
    return OTHER


def service(classify: object, known: frozenset[str]) -> str:
    """A handshake's classified service: one of the catalogue's names (several joined by "/" count under
    the first), else "other"."""
    if not isinstance(classify, str) or not classify:
        return OTHER
    first = classify.split("/")[0]
    return first if first in known else OTHER
