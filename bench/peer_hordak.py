"""django-hordak 2.x, run inside bench/.peers-venv: prints one JSON line of figures.

Usage: python peer_hordak.py N   (connection from BENCH_PG_* variables, a fresh database)
"""

import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer_django_settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from djmoney.money import Money  # noqa: E402
from hordak.models import Account, Leg, Transaction  # noqa: E402


def main(n: int) -> None:
    call_command("migrate", verbosity=0)
    cash = Account.objects.create(name="Special cash", type="AS", code="1", currencies=["CNY"])
    revenue = Account.objects.create(name="Appropriation", type="IN", code="2", currencies=["CNY"])
    amount = Money("1.00", "CNY")

    # one transaction each: transfer_to is atomic, Django autocommits between calls
    start = time.perf_counter()
    for _ in range(n):
        revenue.transfer_to(cash, amount)
    transfer_to = n / (time.perf_counter() - start)

    start = time.perf_counter()
    for _ in range(n):
        with transaction.atomic():
            tx = Transaction.objects.create(description="bench")
            Leg.objects.create(transaction=tx, account=revenue, credit=amount)
            Leg.objects.create(transaction=tx, account=cash, debit=amount)
    legs = n / (time.perf_counter() - start)

    print(
        json.dumps(
            {
                "transfer_to": transfer_to,
                "transaction_legs": legs,
                "n": n,
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "django": django.get_version(),
            }
        )
    )


if __name__ == "__main__":
    main(int(sys.argv[1]))
