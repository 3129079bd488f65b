"""The command line's command groups, each registering its subcommands on the parser."""
