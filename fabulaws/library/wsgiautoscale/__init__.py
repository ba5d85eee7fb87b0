"""Django/Celery sites on EC2: a web Auto Scaling group plus database, cache and worker servers."""
