"""Thin boto3 layer: clients, discovery, Auto Scaling, load balancers."""

from .session import Aws

__all__ = ["Aws"]
