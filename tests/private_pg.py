"""A private PostgreSQL cluster for tests that stop and restart the database server.

The shared cluster other test runs use is never touched: ``PrivateCluster`` runs ``initdb`` in a
temporary folder, starts its own ``postgres`` on a free port (trust authentication, listening on
127.0.0.1 and a socket in that folder) and removes everything in ``destroy``. PostgreSQL refuses
to run as root, so when the tests run as root the server runs as the ``postgres`` user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from tests.processes import free_port


def _bin(name: str) -> str:
    found = sorted(str(path) for path in Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found (PostgreSQL server binaries under /usr/lib/postgresql/*/bin)")
    return path


class PrivateCluster:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ostinato-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            self._user = pwd.getpwnam("postgres")
            os.chown(self.root, self._user.pw_uid, self._user.pw_gid)
        self._run([_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])

    def _run(self, argv: list[str], *, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if self._user is not None else []
        done = subprocess.run(
            prefix + argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.root
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    @property
    def url_base(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}"

    def url(self, database: str) -> str:
        return f"{self.url_base}/{database}"

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off -c max_connections=200"
        self._run(
            [_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options, "-w", "start"]
        )

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends every session cleanly; ``immediate`` is a crash (recovery runs at the next start)."""
        self._run([_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"], check=False)

    def up(self) -> bool:
        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=2):
                return True
        except psycopg.Error:
            return False

    def copy_database(self, source_url: str, name: str) -> None:
        """Create ``name`` here with the schema and rows of ``source_url`` (pg_dump | psql)."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        dump = subprocess.run(
            [_bin("pg_dump"), "--no-owner", "--no-privileges", source_url],
            capture_output=True,
            timeout=120,
            check=True,
        )
        subprocess.run(
            [_bin("psql"), "-q", "-v", "ON_ERROR_STOP=1", self.url(name)],
            input=dump.stdout,
            capture_output=True,
            timeout=120,
            check=True,
        )

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        pidfile = self.data / "postmaster.pid"
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError, IndexError):
            os.kill(int(pidfile.read_text().splitlines()[0]), 9)  # pg_ctl failed: the postmaster, by its pid
            time.sleep(0.5)
        shutil.rmtree(self.root, ignore_errors=True)
