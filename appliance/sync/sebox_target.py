"""Is `sebox.url` the SE box, or this kiosk's own event feed?

The kiosk serves its own recognition events on `ports.event_feed` (5679, the
SE box's port, while the camera worker runs). A `sebox.url` that points there
connects the kiosk to itself and stores its own events as the box's. The
settings refuse such a URL (`config validate`, start); the doctor also
resolves host names, which the settings loader does not do (no DNS at start).

"This machine" is a loopback or unspecified address, `localhost`, the host
name, `ports.bind`, or an address assigned to one of this machine's
interfaces (binding a socket to it succeeds only then; nothing is sent).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
SCHEMES = {"ws": 80, "wss": 443}


def host_port(url: str) -> tuple[str, int] | None:
    """(host, port) of a ws:// or wss:// URL; None when it is not one."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in SCHEMES or not parts.hostname:
        return None
    return parts.hostname.lower(), port if port is not None else SCHEMES[parts.scheme]


def _assigned_here(address: ipaddress._BaseAddress) -> bool:
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((str(address), 0))
        return True
    except OSError:
        return False


def is_this_machine(host: str, bind: str = "", resolve: bool = False) -> bool:
    """Whether `host` names this machine; names other than the obvious ones only when `resolve`."""
    host = host.strip("[]").lower().rstrip(".")
    if host in LOCAL_NAMES or host == socket.gethostname().lower():
        return True
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        if not resolve:
            return False
        try:
            addresses = [
                ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in socket.getaddrinfo(host, None)
            ]
        except (OSError, ValueError):
            return False
    return any(a.is_loopback or a.is_unspecified or str(a) == bind or _assigned_here(a) for a in addresses)


def serves_feed(settings) -> bool:
    """The gateway serves the kiosk's own feed while the camera worker runs (appliance/gateway/server.py)."""
    workers = settings.supervisor.workers
    return "camera" in workers and "gateway" in workers and settings.ports.event_feed != 0


def self_feed_problem(settings, resolve: bool = False) -> str:
    """Why `sebox.url` is this kiosk's own event feed, or ''."""
    url = settings.sebox.url
    target = host_port(url) if url else None
    if target is None or not serves_feed(settings):
        return ""
    host, port = target
    if port != settings.ports.event_feed or not is_this_machine(host, settings.ports.bind, resolve):
        return ""
    return (
        f"sebox.url = {url!r} is this kiosk's own event feed (ports.event_feed = {port}, served while the "
        "camera worker runs): the kiosk would read its own recognitions and store them as the SE box's. "
        "Set sebox.url to the box's address, ws://<box-ip>:5679"
    )


def config_problem(settings) -> str:
    """What the settings loader refuses about [sebox], or ''."""
    url = settings.sebox.url
    if url and host_port(url) is None:
        return f"sebox.url = {url!r}: expected ws://<box-ip>:5679 (or wss://)"
    if settings.sebox.enabled:
        return self_feed_problem(settings)
    return ""
