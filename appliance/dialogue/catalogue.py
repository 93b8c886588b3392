"""The service catalogue: which government services the kiosk knows.

Loaded from a technician-editable TOML file (``firmware-config/services.toml``)
and validated strictly, because a typo there would otherwise surface as a
wrong answer to a citizen long after the file was edited.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .record import NECESSARY_FIELDS, RECORD_FIELDS

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "firmware-config" / "services.toml"


class CatalogueError(ValueError):
    """The catalogue file is unreadable or breaks a rule; the message names service and key."""


@dataclass(frozen=True)
class Service:
    """One government service as the catalogue describes it."""

    classify: str
    keywords: tuple[tuple[str, float], ...]
    flow: str
    fields: tuple[str, ...]
    documents: tuple[dict[str, Any], ...]
    fallback: bool = False
    #: Situations that lead people here, said without naming the service ("单位交的住房的钱"):
    #: (phrase, weight); "a+b" means both parts said anywhere in the request (classifier.py).
    situations: tuple[tuple[str, float], ...] = ()
    #: Requests as citizens say them, for the nearest-example hint (examples.py); the fallback's
    #: are requests the kiosk cannot serve.
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class Catalogue:
    """All services plus the fields asked of everybody."""

    services: tuple[Service, ...]
    always_ask: tuple[str, ...] = NECESSARY_FIELDS
    _by_name: dict[str, Service] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({s.classify: s for s in self.services})

    @property
    def fallback(self) -> Service:
        """The service chosen when a request matches nothing."""
        return next(s for s in self.services if s.fallback)

    @property
    def regular(self) -> tuple[Service, ...]:
        """Every service except the fallback."""
        return tuple(s for s in self.services if not s.fallback)

    def get(self, classify: str) -> Service:
        """The service called ``classify``; KeyError when unknown."""
        return self._by_name[classify]

    def resolve(self, classify: str | Iterable[str]) -> list[Service]:
        """Services from a '/'-joined classify string or a list of names."""
        names = classify.split("/") if isinstance(classify, str) else list(classify)
        return [self.get(n) for n in names if n]

    def needed_fields(self, classify: str | Iterable[str]) -> list[str]:
        """Fields the chosen service(s) need, always-asked ones included, in record order.

        The fallback alone needs nothing: someone asking where the toilets are
        is not questioned for an ID number.
        """
        services = self.resolve(classify)
        if all(s.fallback for s in services):
            return []
        wanted = set(self.always_ask)
        for service in services:
            wanted.update(service.fields)
        return [f for f in RECORD_FIELDS if f in wanted]

    def flow_for(self, classify: str | Iterable[str]) -> str:
        """The procedure text; several services get one headed section each."""
        services = self.resolve(classify)
        if len(services) == 1:
            return services[0].flow
        return "\n\n".join(f"【{s.classify}】\n{s.flow}" for s in services)

    def documents_for(self, classify: str | Iterable[str]) -> list[dict[str, Any]]:
        """Rows of the documents table (flat objects), tagged with the service when several."""
        services = self.resolve(classify)
        rows: list[dict[str, Any]] = []
        for service in services:
            for doc in service.documents:
                rows.append({"业务": service.classify, **doc} if len(services) > 1 else dict(doc))
        return rows


def _fail(where: str, key: str, problem: str) -> CatalogueError:
    return CatalogueError(f"services catalogue: {where}: key '{key}': {problem}")


def _parse_keyword(where: str, raw: Any) -> tuple[str, float]:
    """'phrase' or 'phrase:weight' -> (phrase, weight)."""
    if not isinstance(raw, str) or not raw.strip():
        raise _fail(where, "keywords", f"{raw!r} is not a non-empty string")
    text, sep, weight = raw.rpartition(":")
    if not sep:
        return raw.strip(), 1.0
    try:
        value = float(weight)
    except ValueError:
        raise _fail(where, "keywords", f"{raw!r}: weight after ':' is not a number") from None
    if not 0 < value <= 5 or not text.strip():
        raise _fail(where, "keywords", f"{raw!r}: weight must be in (0, 5] after a phrase")
    return text.strip(), value


def _parse_situations(where: str, raw: Any) -> tuple[tuple[str, float], ...]:
    """Like keywords ('phrase' or 'phrase:weight'); parts joined by '+' must all be non-empty."""
    if not isinstance(raw, list):
        raise _fail(where, "situations", "must be a list of strings")
    out = []
    for item in raw:
        try:
            phrase, weight = _parse_keyword(where, item)
        except CatalogueError as exc:
            raise CatalogueError(str(exc).replace("'keywords'", "'situations'")) from None
        if any(not part.strip() for part in phrase.split("+")):
            raise _fail(where, "situations", f"{item!r}: an empty part around '+'")
        out.append((phrase, weight))
    return tuple(out)


def _parse_examples(where: str, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or any(not isinstance(x, str) or not x.strip() for x in raw):
        raise _fail(where, "examples", "must be a list of non-empty strings")
    return tuple(x.strip() for x in raw)


def _parse_documents(where: str, raw: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(raw, list):
        raise _fail(where, "documents", "must be a list of tables")
    rows = []
    for i, row in enumerate(raw):
        if not isinstance(row, dict) or not row:
            raise _fail(where, "documents", f"row {i} must be a non-empty table")
        for k, v in row.items():
            # Flat objects only: the front end renders them as one table row each.
            if not isinstance(v, (str, int, float, bool)):
                raise _fail(where, "documents", f"row {i} column '{k}' must be a plain value")
        rows.append(dict(row))
    return tuple(rows)


def _parse_service(index: int, raw: Any) -> Service:
    where = f"service #{index + 1}"
    if not isinstance(raw, dict):
        raise CatalogueError(f"services catalogue: {where} is not a table")
    name = raw.get("classify")
    if not isinstance(name, str) or not name.strip() or "/" in name:
        raise _fail(where, "classify", "must be a non-empty string without '/'")
    where = f"service '{name}'"
    known = {"classify", "keywords", "situations", "examples", "flow", "fields", "documents", "fallback"}
    for key in raw:
        if key not in known:
            raise _fail(where, key, "unknown key")
    fallback = raw.get("fallback", False)
    if not isinstance(fallback, bool):
        raise _fail(where, "fallback", "must be true or false")
    keywords = raw.get("keywords", [])
    if not isinstance(keywords, list) or (not keywords and not fallback):
        raise _fail(where, "keywords", "must be a non-empty list of strings")
    flow = raw.get("flow")
    if not isinstance(flow, str) or not flow.strip():
        raise _fail(where, "flow", "must be a non-empty string")
    fields = raw.get("fields", [])
    if not isinstance(fields, list):
        raise _fail(where, "fields", "must be a list of field names")
    for f in fields:
        if f not in RECORD_FIELDS:
            raise _fail(where, "fields", f"unknown field {f!r} (known: {', '.join(RECORD_FIELDS)})")
    return Service(
        classify=name.strip(),
        keywords=tuple(_parse_keyword(where, k) for k in keywords),
        flow=flow.strip(),
        fields=tuple(fields),
        documents=_parse_documents(where, raw.get("documents", [])),
        fallback=fallback,
        situations=_parse_situations(where, raw.get("situations", [])),
        examples=_parse_examples(where, raw.get("examples", [])),
    )


def parse_catalogue(data: dict[str, Any]) -> Catalogue:
    """Validate an already-parsed TOML document and build the catalogue."""
    raw_services = data.get("service")
    if not isinstance(raw_services, list) or not raw_services:
        raise CatalogueError("services catalogue: key 'service': no [[service]] tables")
    services = [_parse_service(i, s) for i, s in enumerate(raw_services)]
    names = [s.classify for s in services]
    for name in names:
        if names.count(name) > 1:
            raise _fail(f"service '{name}'", "classify", "used by more than one service")
    if sum(s.fallback for s in services) != 1:
        raise CatalogueError(
            "services catalogue: key 'fallback': exactly one service must have fallback = true"
        )
    always = data.get("always_ask", list(NECESSARY_FIELDS))
    if not isinstance(always, list) or any(f not in RECORD_FIELDS for f in always):
        raise CatalogueError(f"services catalogue: key 'always_ask': unknown field in {always!r}")
    return Catalogue(services=tuple(services), always_ask=tuple(always))


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Read and validate the TOML catalogue (default: firmware-config/services.toml)."""
    path = Path(path) if path else DEFAULT_PATH
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise CatalogueError(f"services catalogue: cannot read {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"services catalogue: {path} is not valid TOML: {exc}") from exc
    return parse_catalogue(data)
