"""Helpers for tests and the demo: run real WSGI apps on loopback HTTP servers."""
