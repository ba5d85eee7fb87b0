"""Deployment libraries built on FabulAWS."""
