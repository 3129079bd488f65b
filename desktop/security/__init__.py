"""Keystore and TLS: plain Python, never Qt; net receives SSL contexts built here."""
