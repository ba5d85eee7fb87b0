"""FabulAWS 2: deploy Django/Celery sites to AWS with Fabric 3 and boto3."""

__version__ = "2.0.0.dev0"
