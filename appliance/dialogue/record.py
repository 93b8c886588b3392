"""The citizen's record: its fields, defined once, in the seed's order.

Seed 000 (数据库) lists the necessary fields, then the basic ones; the
database columns, `info` validation, the catalogue's field names and the
`storage`/`summary` output all use this one list. The order in which the
kiosk *asks* is a different thing (a clerk asks for the ID number before the
birth date, which it then no longer needs): that is the order of the
questions in ``qna.QUESTIONS``.
"""

from __future__ import annotations

NECESSARY_FIELDS: tuple[str, ...] = ("name", "gender", "nationality", "phone", "id_card")
"""必要信息, in the seed's order."""
BASIC_FIELDS: tuple[str, ...] = (
    "native_place",
    "birth",
    "email",
    "career",
    "address",
    "hukou",
    "political_status",
    "marital_status",
    "religion",
    "education",
)
"""基本信息, in the seed's order."""
RECORD_FIELDS: tuple[str, ...] = NECESSARY_FIELDS + BASIC_FIELDS
"""Every field of the record (PROTOCOL.md §3)."""
OUTPUT_FIELDS: tuple[str, ...] = ("name", "age", *RECORD_FIELDS[1:])
"""The `storage` output and the summary's record table: every field, `age` (computed from the
birth date) after `name` as in the seed's example output ("name", "age", "gender", …)."""
