"""The one answer type of every doctor check."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Check:
    """One line of the doctor's report."""

    name: str
    status: str  # PASS | WARN | FAIL
    detail: str
    fix: str = ""
    ms: float = 0.0


def row(name: str, status: str, detail: str, fix: str = "") -> Check:
    """A check result; a PASS carries no fix (there is nothing to do)."""
    return Check(name, status, detail, fix if status != "PASS" else "")
