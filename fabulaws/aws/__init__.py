"""Every boto3 call: one module per kind of resource, "not found" decided by error code (``errors``).

``session`` makes the clients (``Aws``); ``instances``, ``images``, ``volumes``, ``keypairs``, ``tags``,
``console``, ``launch``, ``scaling``, ``balancers``, ``network``, ``parameters``, ``cloudfront``,
``statestore`` and ``identity`` are called with one of them.
"""

from .session import Aws

__all__ = ["Aws"]
