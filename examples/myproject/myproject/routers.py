"""Reads go to a replica when local settings define one; writes always go to the primary."""
import random

from django.conf import settings


class ReadReplicaRouter:
    def db_for_read(self, model, **hints):
        replicas = [name for name in settings.DATABASES if name != "default"]
        return random.choice(replicas) if replicas else "default"

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, **hints):
        return db == "default"
