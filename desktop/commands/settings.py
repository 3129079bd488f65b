"""``dicom-courier settings``: the settings that are neither a node's nor the listener's, shown
or changed (the GUI's Settings menu holds the same)."""

import argparse
from typing import Any

SWITCH = {"on": True, "off": False}


def register(commands: Any) -> None:
    """Add ``settings`` to the parser's subcommands."""
    settings = commands.add_parser("settings", help="show or change general settings")
    settings.add_argument(
        "--require-signed-sealed",
        choices=tuple(SWITCH),
        help="on: `unseal` (and the GUI) refuse sealed files no trusted signature "
        "authenticates; off (the default): they open with a NOT SIGNED warning",
    )
    settings.set_defaults(run=_settings)


def _settings(args: argparse.Namespace) -> int:
    from desktop.core.paths import courier_home
    from desktop.sealing import require_signature, signature_required

    home = courier_home()
    if args.require_signed_sealed is not None:
        require_signature(home, SWITCH[args.require_signed_sealed])
    required = signature_required(home)
    print(f"require signed sealed files: {'on' if required else 'off'}")
    return 0
