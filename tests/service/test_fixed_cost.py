"""The fixed cost of handing a command over: what the client imports, and the parsers a
service builds once for the commands it forks."""

import argparse
import subprocess
import sys

import pytest

from desktop import cli

#: Pulled in by the ``socket`` and ``signal`` modules (0.02 s of each hand-over), not by
#: their C halves, which the client uses.
HEAVY = ("socket", "signal", "enum", "selectors", "typing", "re")


def test_the_client_imports_only_the_c_halves_of_socket_and_signal() -> None:
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, desktop.warm.client; print(','.join(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    loaded = set(shown.split(","))
    assert {"_socket", "_signal", "desktop.warm.client"} <= loaded
    assert not loaded.intersection(HEAVY), sorted(loaded.intersection(HEAVY))


def test_a_command_uses_the_parser_built_ahead(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "_built", {})
    cli.build_parsers(["settings", "transfer"])
    built = cli._built["transfer"]

    def built_again(groups: list[str]) -> argparse.ArgumentParser:
        raise AssertionError(f"a parser was built again for {groups}")

    monkeypatch.setattr(cli, "_parser", built_again)
    parsed: list[list[str]] = []
    parse = built.parse_args

    def watched(arguments: list[str]) -> argparse.Namespace:
        parsed.append(list(arguments))
        return parse(arguments)

    monkeypatch.setattr(built, "parse_args", watched)
    assert cli.main(["node", "list"]) == 0
    assert parsed == [["node", "list"]] and "no nodes yet" in capsys.readouterr().out
    assert cli.main(["node", "list"]) == 0  # parsing left it as it was
