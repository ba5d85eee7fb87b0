"""The environment's database as a whole: dumps to and from S3 or another environment, and the swap of a
freshly loaded copy for the live one (``dbbackup``, ``dbrestore``, ``reload_production_db``, ``reset_local_db``)."""
