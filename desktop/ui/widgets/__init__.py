"""The main window's panels."""
