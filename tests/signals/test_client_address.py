from __future__ import annotations

import ipaddress

from guardgate.signals.account import AccountHasher
from guardgate.signals.network import ClientAddress, ip_prefix

TRUSTED = [ipaddress.ip_network("10.0.0.0/8")]


def test_untrusted_peer_cannot_spoof_forwarded_for() -> None:
    resolve = ClientAddress(TRUSTED).resolve
    assert resolve("203.0.113.9", "1.2.3.4", None) == ("203.0.113.9", False)
    assert resolve("203.0.113.9", None, "for=1.2.3.4") == ("203.0.113.9", False)


def test_trusted_proxy_chain_walked_from_the_right() -> None:
    resolve = ClientAddress(TRUSTED).resolve
    # client-supplied junk on the left is ignored: the first untrusted hop from the right wins
    assert resolve("10.0.0.1", "6.6.6.6, 198.51.100.7, 10.1.1.1", None)[0] == "198.51.100.7"
    assert resolve("10.0.0.1", None, 'for="[2001:db8::1]:443";proto=https')[0] == "2001:db8::1"
    assert resolve("10.0.0.1", "10.2.2.2", None)[0] == "10.2.2.2"
    assert resolve("10.0.0.1", "garbage", None)[0] == "10.0.0.1"


def test_prefixes() -> None:
    assert ip_prefix("198.51.100.7") == "198.51.100.0/24"
    assert ip_prefix("2001:db8:1:2::5") == "2001:db8:1::/48"
    assert ip_prefix("not-an-ip") == ""


def test_account_is_keyed_hmac_of_key_or_operator_header() -> None:
    a = AccountHasher(b"secret-a")
    b = AccountHasher(b"secret-b")
    bearer = [(b"authorization", b"Bearer sk-abc")]
    x_api_key = [(b"x-api-key", b"sk-abc")]
    assert a.account_of(bearer) == a.account_of(x_api_key)
    assert a.account_of(bearer) != b.account_of(bearer)
    assert "sk-abc" not in a.account_of(bearer)
    assert a.account_of([]) == "anonymous"
    operator = AccountHasher(b"secret-a", account_header="X-Org-Account")
    headers = [(b"authorization", b"Bearer sk-abc"), (b"x-org-account", b"org-42")]
    assert operator.account_of(headers) != a.account_of(bearer)
    assert operator.account_of(headers) == operator.account_of([(b"x-org-account", b"org-42")])
