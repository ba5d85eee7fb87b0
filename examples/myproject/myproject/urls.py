from django.urls import path

from . import views

urlpatterns = [
    path("", views.home),
    path("healthcheck.html", views.healthcheck),
    path("celery-ping/", views.celery_ping),
    path("secret-fingerprint/", views.secret_fingerprint),
]
