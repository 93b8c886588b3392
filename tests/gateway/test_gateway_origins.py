"""ports.allow_origins: the pattern grammar, the matcher (incl. `self` without DNS rebinding), the settings
check and the doctor's warning."""

import pytest

from appliance.config import ConfigError, load
from appliance.doctor.checks import check_origins
from appliance.gateway.origins import OriginPolicy, pattern_problem

DEFAULT = ("self", "http://127.0.0.1:*", "http://localhost:*")


@pytest.mark.parametrize(
    "origin, host, allowed",
    [
        (None, "127.0.0.1:3304", True),  # not a browser
        ("http://127.0.0.1:10925", "127.0.0.1:3304", True),  # the kiosk's own page
        ("http://localhost:8080", "127.0.0.1:10925", True),  # a page served on the kiosk itself
        ("http://localhost", "127.0.0.1:10925", True),  # port 80: the wildcard covers the default port
        ("https://localhost:8443", "127.0.0.1:10925", False),  # another scheme is another origin
        ("http://127.0.0.2:8080", "127.0.0.2:10925", False),  # another address, not the page port
        ("http://evil.example", "127.0.0.1:10925", False),
        ("http://evil.example:10925", "evil.example:10925", False),  # DNS rebinding is not "self"
        ("http://10.1.2.3:10925", "10.1.2.3:3304", True),  # self on a widened bind, by IP literal
        ("http://10.1.2.3:10925", "10.1.2.4:3304", False),
        ("null", "127.0.0.1:10925", False),  # file:// only when listed
        ("garbage", "127.0.0.1:10925", False),
    ],
)
def test_default_policy(origin, host, allowed):
    assert OriginPolicy(DEFAULT, 10925).allows(origin, host) is allowed


def test_explicit_patterns_null_and_any():
    policy = OriginPolicy(("https://kiosk.example", "null"), 10925)
    assert policy.allows("https://kiosk.example", "x")
    assert policy.allows("https://kiosk.example:443", "x")
    assert not policy.allows("https://kiosk.example:8443", "x")
    assert policy.allows("null", "x")
    assert not policy.allows("http://127.0.0.1:10925", "127.0.0.1:10925")  # no self listed
    assert OriginPolicy(("*",), 10925).allows("http://anything.example", "x")


@pytest.mark.parametrize(
    "pattern, ok",
    [
        ("http://localhost:*", True),
        ("https://[::1]:8443", True),
        ("self", True),
        ("null", True),
        ("*", True),
        ("ftp://x", False),
        ("http://x/path", False),
        ("http://x:99999", False),
        ("localhost:8080", False),
        ("http://*.example.org", False),
    ],
)
def test_pattern_grammar(pattern, ok):
    assert (pattern_problem(pattern) == "") is ok


def test_settings_refuse_a_bad_pattern_and_default_to_the_kiosk_itself():
    assert load(environ={}).ports.allow_origins == DEFAULT
    with pytest.raises(ConfigError, match="allow_origins"):
        load(environ={"APPLIANCE_PORTS_ALLOW_ORIGINS": "self,ftp://x"})


def test_doctor_warns_when_any_origin_is_allowed():
    assert check_origins(load(environ={}))[0].status == "PASS"
    row = check_origins(load(environ={"APPLIANCE_PORTS_ALLOW_ORIGINS": "*"}))[0]
    assert row.status == "WARN" and "hijacking" in row.detail and row.fix
    assert check_origins(load(environ={"APPLIANCE_PORTS_ALLOW_ORIGINS": "null"}))[0].status == "WARN"
