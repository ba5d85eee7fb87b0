"""Fabric helpers: quoted commands, files put with sudo, idempotent edits, host keys."""
