"""The one alias for a boto3 client (botocore builds their classes at run time, so there is no static type)."""

from __future__ import annotations

from typing import Any

Client = Any  # a botocore client (EC2, Auto Scaling, ELB, ELBv2, S3, SSM, CloudFront, STS)
