from django.db import models


class Visit(models.Model):
    """One row per page view: the site writes to the primary database on every request."""

    at = models.DateTimeField(auto_now_add=True)
    path = models.CharField(max_length=200)
