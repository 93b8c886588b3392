"""Which web pages may drive the kiosk: the `ports.allow_origins` list.

A browser names the page that makes a request in the `Origin` header. The
kiosk answers CORS on port 10925 and accepts WebSocket upgrades on 3304, 444
and 5679 only for the origins listed here, so a page from elsewhere (an ad, a
link opened on the kiosk) cannot drive the camera or a citizen's flow.
Clients that send no `Origin` are not browsers and are not affected.

Patterns (no dependency beyond the standard library: the settings loader
validates with `pattern_problem`):

- ``http://127.0.0.1:8080``: one origin; ``https://kiosk.example`` means port 443.
- ``http://localhost:*``: any port on that scheme and host.
- ``self``: the appliance's own page, ``http://<address>:<ports.flow_http>``,
  where the address is the one the request reached when it is an IP literal
  (a host *name* there could be a DNS-rebinding attacker's), or ``localhost``.
- ``null``: pages opened from ``file://`` — but sandboxed iframes of any site
  send ``null`` too, so the doctor warns about it.
- ``*``: any origin (the doctor warns: cross-site WebSocket hijacking).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST = r"(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
_PATTERN = re.compile(rf"^(https?)://({_HOST})(?::(\*|[0-9]{{1,5}}))?$")


@dataclass(frozen=True)
class Pattern:
    scheme: str
    host: str
    port: int | None  # None: any port

    def matches(self, origin: Origin) -> bool:
        return (
            origin.scheme == self.scheme
            and origin.host == self.host
            and (self.port is None or origin.port == self.port)
        )


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int


def pattern_problem(text: str) -> str:
    """'' when `text` is a valid allow_origins entry, else what is wrong with it."""
    if text in ("*", "null", "self"):
        return ""
    match = _PATTERN.match(text)
    if not match:
        return (
            f"{text!r} is not an origin pattern: use scheme://host[:port|:*] "
            "(e.g. http://localhost:*), self, null or *"
        )
    if match.group(3) not in (None, "*") and not 0 < int(match.group(3)) < 65536:
        return f"{text!r}: port out of range"
    return ""


def parse_origin(text: str) -> Origin | None:
    """An Origin header as (scheme, host, port); None for `null` or anything malformed."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return Origin(parts.scheme, host, port if port is not None else DEFAULT_PORTS[parts.scheme])


def _parse_pattern(text: str) -> Pattern:
    match = _PATTERN.match(text)
    assert match, text  # validated when the settings were loaded
    scheme, host, port = match.group(1), match.group(2).lower(), match.group(3)
    number = None if port == "*" else int(port) if port else DEFAULT_PORTS[scheme]
    return Pattern(scheme, host, number)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _host_only(host_header: str) -> str:
    """'127.0.0.1:3304' -> '127.0.0.1', '[::1]:444' -> '[::1]'."""
    host_header = host_header.strip().lower()
    if host_header.startswith("["):
        return host_header.split("]")[0] + "]"
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class OriginPolicy:
    """The parsed `ports.allow_origins`; `page_port` is the port that serves /kiosk/ (ports.flow_http)."""

    def __init__(self, patterns: tuple[str, ...], page_port: int):
        self.raw = tuple(patterns)
        self.any = "*" in patterns
        self.null = "null" in patterns
        self.self_ = "self" in patterns
        self.page_port = page_port
        self.patterns = [_parse_pattern(p) for p in patterns if p not in ("*", "null", "self")]

    def allows(self, origin_header: str | None, host_header: str = "") -> bool:
        """True for no Origin at all (not a browser), else whether the page's origin is listed."""
        if origin_header is None:
            return True
        if self.any:
            return True
        if origin_header.strip() == "null":
            return self.null
        origin = parse_origin(origin_header)
        if origin is None:
            return False
        if self.self_ and self._is_self(origin, host_header):
            return True
        return any(p.matches(origin) for p in self.patterns)

    def _is_self(self, origin: Origin, host_header: str) -> bool:
        if origin.scheme != "http" or origin.port != self.page_port:
            return False
        if origin.host == "localhost":
            return True
        return _is_ip_literal(origin.host) and origin.host == _host_only(host_header)

    def warnings(self) -> list[str]:
        """What a technician should know about this list (the doctor shows these)."""
        out = []
        if self.any:
            out.append(
                "ports.allow_origins contains '*': any web page the kiosk's browser opens can drive "
                "the camera and citizens' flows (cross-site WebSocket hijacking)"
            )
        if self.null:
            out.append(
                "ports.allow_origins contains 'null': file:// pages are allowed, but so are sandboxed "
                "iframes of any site"
            )
        return out
