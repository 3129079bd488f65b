"""C-FIND matching rules of PS3.4 C.2.2.2, one value at a time."""

import pytest

from desktop.core.store.matching import date_time_matcher, matcher


def matches(vr: str, value: str, stored: str) -> bool:
    test = matcher(vr, value)
    assert test is not None, "expected a matching value, got universal matching"
    return test(stored)


@pytest.mark.parametrize("value", ["", "  ", "*"])
def test_zero_length_and_a_lone_star_are_universal_matching(value: str) -> None:
    assert matcher("LO", value) is None
    assert matcher("UI", value) is None


def test_single_value_matching_is_exact_and_case_sensitive_except_person_names() -> None:
    assert matches("SH", "ACC1", "ACC1")
    assert not matches("SH", "ACC1", "acc1")
    assert not matches("SH", "ACC1", "ACC12")
    assert not matches("SH", "ACC1", "")
    assert matches("PN", "doe^john", "DOE^JOHN")
    assert not matches("PN", "doe^jo", "DOE^JOHN")


def test_wildcards_star_and_question_mark() -> None:
    assert matches("LO", "AB*", "ABDOMEN")
    assert matches("LO", "*MEN", "ABDOMEN")
    assert matches("LO", "A?D*N", "ABDOMEN")
    assert not matches("LO", "A?D", "ABDOMEN")
    assert not matches("LO", "B*", "ABDOMEN")
    assert matches("PN", "müll*", "MÜLLER^JÖRG")
    assert not matches("LO", "AB*", "")


def test_sql_wildcard_characters_are_plain_characters() -> None:
    assert not matches("LO", "A%", "ABC")
    assert not matches("LO", "A_C", "ABC")
    assert matches("LO", "A_C", "A_C")
    assert matches("LO", "50%*", "50% off")
    assert not matches("PN", "%", "DOE")
    assert matches("LO", "a.c", "a.c") and not matches("LO", "a.c", "abc")  # no regex either
    assert not matches("LO", "[AB]*", "ABC")


def test_a_list_of_uids_matches_any_of_them() -> None:
    assert matches("UI", "1.2.3\\1.2.4", "1.2.4")
    assert not matches("UI", "1.2.3\\1.2.4", "1.2.5")
    assert not matches("UI", "1.2.3", "1.2.3.4")


@pytest.mark.parametrize("value", ["1.2.*", "1.2.?", "abc", "1..2", "1." + "2" * 70])
def test_a_uid_key_with_wildcards_or_not_a_uid_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="UID"):
        matcher("UI", value)


def test_date_ranges_with_either_end_open() -> None:
    assert matches("DA", "20200101-20201231", "20200615")
    assert matches("DA", "20200101-20201231", "20201231")
    assert not matches("DA", "20200101-20201231", "20210101")
    assert matches("DA", "-20200101", "19991231")
    assert not matches("DA", "-20200101", "20200102")
    assert matches("DA", "20200101-", "20991231")
    assert matches("DA", "20200101", "20200101")
    assert not matches("DA", "20200101", "20200102")
    assert not matches("DA", "20200101-", "")  # no date: no match
    assert not matches("DA", "20200101-", "garbage")


@pytest.mark.parametrize(
    "value", ["2020", "2020-01-01", "20200101-20200102-20200103", "-", "2020*"]
)
def test_an_invalid_date_is_refused_with_the_reason(value: str) -> None:
    with pytest.raises(ValueError, match=r"DA|wildcard"):
        matcher("DA", value)


def test_time_ranges_honour_the_precision_given() -> None:
    assert matches("TM", "1000-1200", "120059.5")  # "1200" is the whole minute
    assert not matches("TM", "1000-1200", "120100")
    assert matches("TM", "10", "105959")
    assert matches("TM", "-0930", "09:15:00")  # ACR-NEMA stored form
    assert not matches("TM", "1000-", "095959.999999")


def test_date_time_ranges() -> None:
    assert matches("DT", "2020-2021", "20211231235959")
    assert not matches("DT", "2020-2021", "20220101")
    assert matches("DT", "20200101120000-", "20200101120000.000001+0100")


def test_combined_date_and_time_ranges_are_one_date_time_range() -> None:
    test = date_time_matcher("20200101-20200103", "1800-0600")
    assert test("20200102", "030000")  # inside the span, though outside 18:00..06:00 daily
    assert not test("20200101", "170000")  # before 2020-01-01 18:00
    assert not test("20200103", "070000")  # after 2020-01-03 06:00
    assert not test("", "120000")


def test_numbers_match_by_value() -> None:
    assert matches("IS", "5", "05")
    assert not matches("IS", "5", "6")
    assert not matches("IS", "5", "")
    with pytest.raises(ValueError, match="not a number"):
        matcher("IS", "five")
    with pytest.raises(ValueError, match="wildcards"):
        matcher("IS", "5*")


def test_multi_valued_attributes_match_when_any_value_does() -> None:
    assert matches("CS", "MR", "CT\\MR")
    assert matches("CS", "PT\\MR", "CT\\MR")  # multiple values in the request: any of them
    assert not matches("CS", "PT\\US", "CT\\MR")
    assert matches("LT", "a\\b", "a\\b")  # a backslash is text in LT


def test_person_names_match_any_component_group() -> None:
    stored = "Yamada^Tarou=山田^太郎=やまだ^たろう"
    assert matches("PN", "yamada^tarou", stored)
    assert matches("PN", "山田*", stored)
    assert matches("PN", stored, stored)
    assert not matches("PN", "Tanaka*", stored)


def test_a_64_kb_value_matches_itself_and_nothing_else() -> None:
    huge = "A" * 65536
    assert matches("LO", huge, huge)
    assert not matches("LO", huge, huge[:-1])
    assert matches("LO", "A*A?A", huge)


def test_a_hostile_pattern_costs_no_exponential_search() -> None:
    test = matcher("LO", "*A" * 30 + "*B")
    assert test is not None
    assert not test("A" * 65536)  # an exponential search would not finish
