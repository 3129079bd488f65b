"""The services our listener provides beyond C-STORE and C-ECHO, each against the local store
as ``desktop.core.archive.Archive`` describes it."""
