"""Bundled enforcement policies (package data)."""
