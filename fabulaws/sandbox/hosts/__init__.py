"""Sandbox hosts: every running instance is a Debian machine reached over SSH; load balancers are haproxy.

Needs root (network namespaces, overlay mounts, loop devices).
"""
