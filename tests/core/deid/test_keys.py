"""The project key and what it drives: made once (0600, 32 random bytes), refused when too short;
UIDs in 2.25 UUID form, the same for the same key on any run, date shifts per patient."""

import stat
import uuid
from pathlib import Path

import pytest

from desktop.core.deid.keys import KEY_BYTES, KeyFileError, default_key_file, project_key
from desktop.core.deid.mapping import MAX_SHIFT_DAYS, KeyedMapping, shift_date, shift_date_time


def test_key_made_private_once(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "project.key"
    key = project_key(path)
    assert len(key) == KEY_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert project_key(path) == key
    assert project_key(tmp_path / "other.key") != key


def test_default_key_lives_in_the_home() -> None:
    assert project_key(default_key_file()) == default_key_file().read_bytes()
    assert default_key_file().parent.name == "deid"


def test_short_key_refused(tmp_path: Path) -> None:
    path = tmp_path / "short.key"
    path.write_bytes(b"tiny")
    with pytest.raises(KeyFileError, match="holds 4 bytes"):
        project_key(path)


def test_uid_is_a_keyed_uuid() -> None:
    original = "1.2.840.113619.2.55.3.1234"
    new = KeyedMapping(b"a" * 32).uid(original)
    assert new == KeyedMapping(b"a" * 32).uid(original)  # another run, another machine
    assert new != KeyedMapping(b"b" * 32).uid(original)
    assert new.startswith("2.25.") and len(new) <= 64
    as_uuid = uuid.UUID(int=int(new.removeprefix("2.25.")))
    assert as_uuid.version == 8 and as_uuid.variant == uuid.RFC_4122


def test_shift_per_patient_within_range() -> None:
    mapping = KeyedMapping(b"a" * 32)
    shifts = {mapping.shift_days(f"P{n}") for n in range(50)}
    assert len(shifts) > 40
    assert all(-MAX_SHIFT_DAYS <= s <= -1 for s in shifts)
    assert shift_date("20240301", -1) == "20240229"
    assert shift_date_time("20240301120000+0100", -1) == "20240229120000+0100"
    assert shift_date("2024", -1) == ""
