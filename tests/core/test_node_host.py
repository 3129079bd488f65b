"""A node's host must be something a resolver could look up: a typo is refused when the node is
added, not discovered as a DNS failure at every send."""

import pytest

from desktop.core.config import ConfigError, Node


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "::1", "fe80::1", "pacs", "pacs-1.hospital.example", "PACS_2.local."]
)
def test_addresses_and_host_names_are_accepted(host: str) -> None:
    assert Node("n", "AE", host, 104).validated().host == host


@pytest.mark.parametrize(
    "host", ["bad host!", "-pacs", "pacs-.example", "a..b", "x" * 64 + ".example", "ä.example"]
)
def test_a_host_no_resolver_could_look_up_is_refused(host: str) -> None:
    with pytest.raises(ConfigError, match="neither an IP address nor a host name") as refused:
        Node("n", "AE", host, 104).validated()
    assert refused.value.field == "host"
