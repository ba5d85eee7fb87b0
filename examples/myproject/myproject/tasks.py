from celery import shared_task


@shared_task
def add(x, y):
    """Round-trips through the broker: the web server enqueues it, a worker answers."""
    return x + y
