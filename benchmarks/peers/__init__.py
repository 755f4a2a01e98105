"""Peer scripts: each runs as a script in its own virtualenv (see _common.py)."""
