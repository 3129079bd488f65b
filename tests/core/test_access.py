"""The listener's access list: entries read strictly, services granted per title and
certificate."""

import pytest

from desktop.core.access import EVERYTHING, AccessError, AccessList, grant, parse_grant

FINGERPRINT = "ab" * 32


def test_an_entry_without_services_grants_every_service() -> None:
    grant = parse_grant("PACS")
    assert (grant.ae_title, grant.fingerprint, grant.services) == ("PACS", "", EVERYTHING)


def test_services_and_a_fingerprint_with_colons() -> None:
    colons = ":".join(FINGERPRINT[i : i + 2] for i in range(0, 64, 2)).upper()
    grant = parse_grant(f"VIEWER={colons}/query,retrieve")
    assert grant.fingerprint == FINGERPRINT
    assert grant.services == {"query", "retrieve"}


def test_a_title_holding_a_slash_names_its_services() -> None:
    assert parse_grant("A/B/store").ae_title == "A/B"
    assert parse_grant("A/B/store").services == {"store"}
    with pytest.raises(AccessError, match="'b' after '/' is not a service"):
        parse_grant("A/B")  # read as a typo of a service, never as every service for 'A/B'


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("", "1 to 16 printable ASCII characters"),
        ("SEVENTEEN_CHARS_X", "1 to 16 printable ASCII characters"),
        ("   /store", "not only spaces"),
        ("BACK\\SLASH", "without backslash"),
        ("TAB\tBED", "printable ASCII"),
        ("PACS=12345", "64 hex digits"),
        ("AE/delete", "'delete' after '/' is not a service: name store, query or retrieve"),
        ("AE/stroe", "'stroe' after '/' is not a service .did you mean store"),
        ("AE/", "'nothing' after '/' is not a service"),
        ("AE/store,", "'nothing' after '/' is not a service"),
    ],
)
def test_bad_entries_say_what_is_wrong(entry: str, message: str) -> None:
    with pytest.raises(AccessError, match=message):
        parse_grant(entry)


def test_services_are_those_of_the_grants_that_match_title_and_certificate() -> None:
    access = AccessList.parse(["MOD/store", f"VIEWER={FINGERPRINT}/query", "VIEWER/retrieve"])
    assert access.services("MOD", "") == {"store"}
    assert access.services("VIEWER", FINGERPRINT) == {"query", "retrieve"}
    assert access.services("VIEWER", "cd" * 32) == {"retrieve"}
    assert access.services("OTHER", "") == frozenset()
    assert access.refusal("OTHER", "") == "calling AE title 'OTHER' is not in the allowed list"
    assert access.refusal("VIEWER", "") == ""


def test_a_title_bound_only_to_a_certificate_is_refused_with_another() -> None:
    access = AccessList.parse([f"VIEWER={FINGERPRINT}"])
    assert "bound to another client certificate" in access.refusal("VIEWER", "cd" * 32)
    assert "none, plain TCP" in access.refusal("VIEWER", "")


def test_no_list_lets_anyone_do_everything() -> None:
    assert AccessList().services("ANY", "") == EVERYTHING and not AccessList().refusal("ANY", "")


@pytest.mark.parametrize(
    ("title", "fingerprint", "services", "field"),
    [
        ("", "", ["store"], "ae_title"),
        ("A=B", "", ["store"], "ae_title"),
        ("VIEWER", "ab" * 31, ["store"], "fingerprint"),
        ("VIEWER", "zz" * 32, ["store"], "fingerprint"),
        ("VIEWER", "", [], "services"),
        ("VIEWER", "", ["delete"], "services"),
    ],
)
def test_a_grant_built_from_its_parts_names_the_part_at_fault(
    title: str, fingerprint: str, services: list[str], field: str
) -> None:
    """What the GUI's editor marks beside the field: no grant of nothing (an entry "AE/"
    would read as every service)."""
    with pytest.raises(AccessError) as refused:
        grant(title, fingerprint, services)
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("title", "services", "entry"),
    [
        ("PACS", EVERYTHING, "PACS"),
        ("VIEWER", {"retrieve", "query"}, f"VIEWER={FINGERPRINT}/query,retrieve"),
        ("A/store", EVERYTHING, "A/store/store,query,retrieve"),
    ],
)
def test_an_entry_written_from_a_grant_reads_back_the_same(
    title: str, services: set[str], entry: str
) -> None:
    bound = FINGERPRINT if title == "VIEWER" else ""
    written = grant(f" {title} ", bound.upper(), services)
    assert written.entry == entry
    assert parse_grant(written.entry) == written
