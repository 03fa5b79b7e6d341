"""A minimal Django settings module for django-hordak on the benchmark's PostgreSQL.

Read by ``bench/peer_hordak.py`` inside the peers' virtualenv; connection from BENCH_PG_* variables.
"""

import os

SECRET_KEY = "bench-only"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "mptt",
    "djmoney",
    "hordak",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["BENCH_PG_DBNAME"],
        "HOST": os.environ["BENCH_PG_HOST"],
        "PORT": os.environ["BENCH_PG_PORT"],
        "USER": os.environ["BENCH_PG_USER"],
        "PASSWORD": os.environ.get("BENCH_PG_PASSWORD", ""),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DEFAULT_CURRENCY = "CNY"
HORDAK_INTERNAL_CURRENCY = "CNY"
CURRENCIES = ["CNY"]
