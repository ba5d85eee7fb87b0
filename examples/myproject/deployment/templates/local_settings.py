# Rendered by FabulAWS for {{ deployment }} {{ environment }} on a {{ current_role }} server at {{ current_changeset }}.
# Edit deployment/templates/local_settings.py in the repository, not this file.
from myproject.settings import *  # noqa: F401,F403

DEBUG = False
SECRET_KEY = {{ secrets.secret_key | pyrepr }}
ALLOWED_HOSTS = {{ allowed_hosts | pyrepr }}
# This server's own names, recorded at each boot from instance metadata (web servers, before the site starts).
try:
    with open({{ paths.own_hosts | pyrepr }}) as own_hosts:
        ALLOWED_HOSTS += own_hosts.read().split()
except OSError:
    pass

# Every database goes through the local pgbouncer, which talks TLS to the database servers.
DATABASES = {
{%- for database in databases %}
    {{ database.alias | pyrepr }}: {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": {{ database.pool | pyrepr }},
        "USER": {{ database_user | pyrepr }},
        "PASSWORD": {{ secrets.database_password | pyrepr }},
        "HOST": "127.0.0.1",
        "PORT": {{ pgbouncer_port }},
    },
{%- endfor %}
}

CELERY_BROKER_URL = {{ broker_url | pyrepr }}
CELERY_RESULT_BACKEND = "rpc://"
STATIC_ROOT = {{ paths.static_root | pyrepr }}
MEDIA_ROOT = {{ paths.media_root | pyrepr }}
CHANGESET = {{ current_changeset | pyrepr }}
