import hashlib

from django.conf import settings
from django.db import connections
from django.http import HttpResponse, JsonResponse

from .models import Visit
from .tasks import add
from .version import GREETING


def home(request):
    Visit.objects.create(path=request.path)
    return HttpResponse(f"{GREETING}\n", content_type="text/plain")


def healthcheck(request):
    """200 only when every configured database answers (the load balancer's health check)."""
    failures = []
    for alias in settings.DATABASES:
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception as exc:  # noqa: BLE001 - reported in the response
            failures.append(f"{alias}: {exc}")
    if failures:
        return HttpResponse("\n".join(failures) + "\n", status=503, content_type="text/plain")
    return HttpResponse("OK\n", content_type="text/plain")


def celery_ping(request):
    """Enqueue a task and wait for a worker's answer: the broker and the worker both work."""
    result = add.delay(2, 3)
    return JsonResponse({"result": result.get(timeout=20), "task": result.id})


def secret_fingerprint(request):
    """A digest of SECRET_KEY: shows which secret the site runs with, without showing the secret."""
    return HttpResponse(hashlib.sha256(settings.SECRET_KEY.encode()).hexdigest()[:16] + "\n", content_type="text/plain")
