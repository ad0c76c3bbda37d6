"""Bad input to the real ``ai`` program: one line on stderr, a non-zero exit, never a traceback.

Each case runs ``ai`` in a subprocess, as a user would, with its own data
directory and a minimal environment. The line must say what is wrong (each case
names a fragment it must contain) and, through its wording, how to fix it.

How the harder conditions are made:

* read-only: ``chmod`` on the data directory or the database file, with ``ai``
  run as ``nobody`` when the tests run as root (root ignores permissions);
* full disk: a 1 MiB tmpfs mounted in a private mount namespace (``unshare -m``,
  or ``unshare -rm`` for a non-root user) and filled up before ``ai`` runs;
* locked: the test holds SQLite's write lock while ``ai`` writes, with
  ``AI_DB_BUSY_TIMEOUT=0.3`` so the busy timeout ends quickly;
* PostgreSQL down / missing database / not migrated: the session's real server
  (tests/support/postgres.py), a port nothing listens on, a name never created.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support.db_fixtures import sqlite_template  # noqa: F401
from support.postgres import PostgresServer, _free_port, postgres_server  # noqa: F401
from support.privileges import demote, give_away, permissions_apply, shared_directory

RUN_AI = "import sys; sys.argv[0] = 'ai'; from ai_core.cli import main; main()"
KEY = "sk-test-0123456789abcdef0123"

# The children import the same ai-core as this process.
PYTHONPATH = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}


def ai_command(*args: str) -> list[str]:
    return [sys.executable, "-c", RUN_AI, *args]


def base_env(root: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **PYTHONPATH,
        "HOME": str(root),
        "AI_DATA_DIR": str(root / "data"),
        "AI_CONFIG_FILE": str(root / "absent.toml"),
    }


def run(command: list[str], env: dict[str, str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=180, **kwargs)  # type: ignore[call-overload, no-any-return]


def assert_one_line(done: subprocess.CompletedProcess[str], expect: str, *, status: int = 1) -> str:
    shown = f"exit {done.returncode}\nstdout: {done.stdout!r}\nstderr: {done.stderr!r}"
    assert done.returncode == status, shown
    assert "Traceback" not in done.stderr + done.stdout, shown
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and done.stderr.endswith("\n"), shown
    assert lines[0].startswith("Error: "), shown
    assert expect in lines[0], shown
    return lines[0]


# ---------------------------------------------------------------- set-ups


def migrated(root: Path) -> Path:
    """A current database at the default place, as `ai` would make it."""
    done = run(ai_command("db", "upgrade"), base_env(root))
    assert done.returncode == 0, done.stderr
    return root / "data" / "ai-core.db"


def sql(path: Path, *statements: str) -> None:
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)


def write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def config(root: Path, env: dict[str, str], content: bytes) -> None:
    env["AI_CONFIG_FILE"] = str(write(root / "config.toml", content))


def with_conversation(root: Path) -> str:
    """A stored conversation made by `ai chat` itself; returns its id."""
    env = base_env(root)
    done = run(ai_command("chat", "-m", "fake/echo", "remember me"), env)
    assert done.returncode == 0, done.stderr
    listed = run(ai_command("conversations", "list", "--json"), env)
    assert listed.returncode == 0, listed.stderr
    return str(json.loads(listed.stdout)[0]["id"])


def damage_parts(value: str, *, version: int | None = None) -> Callable[[Path, dict[str, str]], list[str]]:
    def setup(root: Path, env: dict[str, str]) -> list[str]:
        cid = with_conversation(root)
        changes = [f"UPDATE ai_messages SET parts = '{value}' WHERE conversation_id = '{cid}' AND role = 'user'"]
        if version is not None:
            changes.append(f"UPDATE ai_messages SET format_version = {version} WHERE conversation_id = '{cid}'")
        sql(root / "data" / "ai-core.db", *changes)
        return [cid]

    return setup


def newer_schema(root: Path, env: dict[str, str]) -> None:
    sql(migrated(root), "UPDATE alembic_version SET version_num = '0099'")


def setting(name: str, make: Callable[[Path], object]) -> Callable[[Path, dict[str, str]], None]:
    """Set-up that points ``name`` at something made in the test's directory."""

    def setup(root: Path, env: dict[str, str]) -> None:
        env[name] = str(make(root))

    return setup


def dangling_link(root: Path) -> Path:
    link = root / "dangling.key"
    link.symlink_to(root / "nowhere" / "encryption.key")
    return link


@dataclass
class Case:
    id: str
    args: list[str]
    expect: str
    env: dict[str, str] = field(default_factory=dict)
    setup: Callable[[Path, dict[str, str]], list[str] | None] | None = None
    stdin: str | None = None
    refuse: str | None = None
    """A fragment the line must not contain (advice that would be wrong)."""


OPENAI = {"AI_OPENAI_API_KEY": KEY, "AI_OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
CHAT = ["chat", "--no-persist", "-m", "fake/echo", "hi"]
CHAT_OPENAI = ["chat", "--no-persist", "-m", "openai/gpt-4o-mini", "hi"]

# fmt: off
CASES = [
    # -- environment values
    Case("timeout-not-a-number", ["usage"], "AI_TIMEOUT = 'abc': input should be a valid number",
         {"AI_TIMEOUT": "abc"}),
    Case("timeout-negative", ["usage"], "AI_TIMEOUT = '-5': input should be greater than 0", {"AI_TIMEOUT": "-5"}),
    Case("timeout-nan", ["usage"], "AI_TIMEOUT = 'nan'", {"AI_TIMEOUT": "nan"}),
    Case("retry-attempts-negative", ["usage"], "AI_RETRY_ATTEMPTS = '-1'", {"AI_RETRY_ATTEMPTS": "-1"}),
    Case("provider-retry-negative", CHAT_OPENAI, "AI_OPENAI_RETRY_ATTEMPTS = -3: input should be greater than or "
         "equal to 0", {**OPENAI, "AI_OPENAI_RETRY_ATTEMPTS": "-3"}),
    Case("provider-retry-word", CHAT_OPENAI, "AI_OPENAI_RETRY_ATTEMPTS must be a whole number, got 'many'",
         {**OPENAI, "AI_OPENAI_RETRY_ATTEMPTS": "many"}),
    Case("provider-timeout-word", CHAT_OPENAI, "AI_OPENAI_TIMEOUT", {**OPENAI, "AI_OPENAI_TIMEOUT": "slow"}),
    Case("persistence-maybe", ["usage"], "AI_PERSISTENCE = 'maybe': must be on or off", {"AI_PERSISTENCE": "maybe"}),
    Case("budgets-not-json", ["usage"], "AI_BUDGETS is not valid JSON: it must be a JSON list",
         {"AI_BUDGETS": "notjson"}),
    Case("budgets-bad-shape", ["chat", "-m", "fake/echo", "hi"], "budget #1 is invalid: limit",
         {"AI_BUDGETS": '[{"limit": "lots"}]'}),
    Case("tool-rounds-zero", ["usage"], "AI_TOOL_ROUNDS = '0': input should be greater than or equal to 1",
         {"AI_TOOL_ROUNDS": "0"}),
    Case("http-transport-no-module", CHAT, "AI_HTTP_TRANSPORT = 'nosuch:mod': there is no module 'nosuch'",
         {"AI_HTTP_TRANSPORT": "nosuch:mod"}),
    Case("http-transport-malformed", CHAT, "AI_HTTP_TRANSPORT = 'not a spec': must be module:callable",
         {"AI_HTTP_TRANSPORT": "not a spec"}),
    Case("log-level-unknown", ["usage"], "AI_LOG_LEVEL 'loud' is not a log level", {"AI_LOG_LEVEL": "loud"}),
    Case("busy-timeout-word", ["usage"], "AI_DB_BUSY_TIMEOUT = 'abc'", {"AI_DB_BUSY_TIMEOUT": "abc"}),
    Case("data-dir-is-a-file", ["usage"], "names a file, not a directory",
         setup=setting("AI_DATA_DIR", lambda root: write(root / "a-file", b"x"))),
    Case("database-url-not-a-url", ["usage"], "database URL 'notaurl' is not a URL: use sqlite:///",
         {"AI_DATABASE_URL": "notaurl"}),
    Case("database-url-unsupported", ["usage"], "unsupported database 'mysql://u@h/db'",
         {"AI_DATABASE_URL": "mysql://u@h/db"}),
    # -- the config file
    Case("config-not-utf8", ["usage"], "is not UTF-8 text (byte 0xff",
         setup=lambda root, env: config(root, env, b'default_model = "fake/echo"\n# caf\xff\n')),
    Case("config-wrong-type", ["usage"], "timeout in ",
         setup=lambda root, env: config(root, env, b'timeout = "slow"\n')),
    Case("config-provider-wrong-type", ["usage"], "(at openai.timeout)",
         setup=lambda root, env: config(root, env, b'[providers.openai]\ntimeout = "slow"\n')),
    Case("config-not-toml", ["usage"], "is not valid TOML", setup=lambda root, env: config(root, env, b"timeout = \n")),
    Case("config-is-a-directory", ["usage"], "is not a file: point AI_CONFIG_FILE at a TOML file",
         setup=setting("AI_CONFIG_FILE", lambda root: root)),
    # -- the database
    Case("database-is-a-directory", ["usage"], "is a directory: point AI_DATABASE_URL",
         setup=setting("AI_DATABASE_URL", lambda root: f"sqlite:///{root}")),
    Case("database-is-garbage", ["usage"], "is not an SQLite database",
         setup=setting("AI_DATABASE_URL", lambda root: f"sqlite:///{write(root / 'x.db', b'not a database' * 500)}")),
    Case("newer-schema-db-current", ["db", "current"], "written by a newer ai-core; upgrade ai-core",
         setup=newer_schema, refuse="run `ai db upgrade`"),
    Case("newer-schema-usage", ["usage"], "written by a newer ai-core; upgrade ai-core", setup=newer_schema),
    Case("newer-schema-db-upgrade", ["db", "upgrade"], "written by a newer ai-core", setup=newer_schema),
    Case("upgrade-bogus-revision", ["db", "upgrade", "--revision", "bogus"],
         "unknown schema revision 'bogus': use head or one of 0001"),
    Case("parts-not-json", ["conversations", "show", "{0}"], "a stored JSON value is damaged",
         setup=damage_parts("{broken")),
    Case("parts-wrong-shape", ["conversations", "export", "{0}"], "a stored user message (format 1) is not valid",
         setup=damage_parts('[{"type": "hologram"}]')),
    Case("parts-newer-format", ["conversations", "show", "{0}"], "stored message format 7 is newer than this",
         setup=damage_parts('[{"type": "text", "text": "x"}]', version=7)),
    Case("export-to-missing-directory", ["conversations", "export", "anything", "-o", "/nonexistent/dir/out.jsonl"],
         "the directory /nonexistent/dir does not exist"),
    # -- credentials
    Case("key-file-dangling-symlink", ["keys", "set", "openai"], "is a symbolic link to", stdin=KEY,
         setup=setting("AI_KEY_FILE", dangling_link)),
    Case("encryption-key-garbage", ["keys", "set", "openai"], "AI_ENCRYPTION_KEY is not a valid Fernet key",
         {"AI_ENCRYPTION_KEY": "garbage"}, stdin=KEY),
]
# fmt: on


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_bad_input_is_one_clear_line(case: Case, tmp_path: Path) -> None:
    env = {**base_env(tmp_path), **case.env}
    extra = case.setup(tmp_path, env) if case.setup else None
    args = [arg.format(*(extra or [])) for arg in case.args]
    line = assert_one_line(run(ai_command(*args), env, input=case.stdin), case.expect)
    if case.refuse:
        assert case.refuse not in line


def test_there_are_about_thirty_cases() -> None:
    assert len(CASES) >= 30


# ---------------------------------------------------------------- a locked database


@contextmanager
def write_locked(path: Path) -> Iterator[None]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def test_a_locked_database_after_the_busy_timeout(tmp_path: Path) -> None:
    path = migrated(tmp_path)
    env = {**base_env(tmp_path), "AI_DB_BUSY_TIMEOUT": "0.3"}
    with write_locked(path):
        line = assert_one_line(run(ai_command("usage", "rebuild"), env), "is locked by another process (waited 0.3 s)")
    assert "AI_DB_BUSY_TIMEOUT" in line
    assert run(ai_command("usage", "rebuild"), env).returncode == 0  # and works once the lock is gone


# ---------------------------------------------------------------- read-only (chmod) and full (tmpfs) disks


@pytest.mark.parametrize("what", ["data-dir", "database-file"])
def test_a_read_only_place(what: str, sqlite_template: Path) -> None:  # noqa: F811
    permissions_apply()
    with shared_directory() as root:
        data = root / "data"
        data.mkdir()
        if what == "database-file":
            shutil.copyfile(sqlite_template, data / "ai-core.db")
        give_away(data)
        target, args = (data, ["usage"]) if what == "data-dir" else (data / "ai-core.db", ["usage", "rebuild"])
        target.chmod(0o500 if target.is_dir() else 0o400)
        done = run(ai_command(*args), base_env(root), preexec_fn=demote())
        expect = "permission denied" if what == "data-dir" else "is read-only"
        assert_one_line(done, expect)


def in_small_tmpfs(mount_point: Path, env: dict[str, str], *steps: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``steps`` (all but the last must succeed) on a 1 MiB tmpfs at ``mount_point``, filled before the last."""
    if shutil.which("unshare") is None:
        pytest.skip("`unshare` is missing: cannot mount a small tmpfs to fill")
    mount_point.mkdir()
    script = [f"mount -t tmpfs -o size=1m tmpfs {shlex.quote(str(mount_point))} || exit 97"]
    script += [f"{shlex.join(step)} >/dev/null 2>&1 || exit 98" for step in steps[:-1]]
    filler = shlex.quote(str(mount_point / "filler"))
    script += [f"dd if=/dev/zero of={filler} bs=4k 2>/dev/null", shlex.join(steps[-1])]
    flags = "-m" if os.geteuid() == 0 else "-rm"
    done = run(["unshare", flags, "sh", "-c", "\n".join(script)], env)
    if done.returncode == 97 or "unshare failed" in done.stderr or "Operation not permitted" in done.stderr:
        pytest.skip(f"cannot mount a tmpfs in a private mount namespace here: {done.stderr.strip()}")
    assert done.returncode != 98, f"setting up the full disk failed: {done.stderr}"
    return done


def test_a_full_disk_when_creating_the_database(tmp_path: Path) -> None:
    env = {**base_env(tmp_path), "AI_DATA_DIR": str(tmp_path / "disk" / "data")}
    done = in_small_tmpfs(tmp_path / "disk", env, ai_command("db", "upgrade"))
    assert_one_line(done, "is full: free some space")


def test_a_full_disk_when_writing(tmp_path: Path) -> None:
    env = {**base_env(tmp_path), "AI_DATA_DIR": str(tmp_path / "disk" / "data")}
    done = in_small_tmpfs(tmp_path / "disk", env, ai_command("db", "upgrade"), ai_command("usage", "rebuild"))
    assert_one_line(done, "is full: free some space")


# ---------------------------------------------------------------- PostgreSQL down, missing, not migrated


@pytest.mark.postgres
@pytest.mark.parametrize("what", ["down", "missing-database", "not-migrated"])
def test_postgresql_problems(what: str, postgres_server: PostgresServer, tmp_path: Path) -> None:  # noqa: F811
    server = postgres_server
    if what == "down":
        url, expect = f"postgresql://{server.user}@127.0.0.1:{_free_port()}/ai", "connection refused; is the server"
    elif what == "missing-database":
        url, expect = server.url("no_such_database_here"), 'database "no_such_database_here" does not exist'
    else:
        url, expect = server.url(server.create_database()), "run `ai db upgrade`"
    env = {**base_env(tmp_path), "AI_DATABASE_URL": url}
    assert_one_line(run(ai_command("usage"), env), expect)


# ---------------------------------------------------------------- anything else: one line, and -v for the traceback


def test_an_unexpected_error_is_one_line_with_a_hint(tmp_path: Path) -> None:
    """A factory that does not exist in a module that does: caught nowhere on purpose, so it reaches the reporter."""
    env = {**base_env(tmp_path), **OPENAI, "AI_HTTP_TRANSPORT": "json:no_such_factory"}
    line = assert_one_line(run(ai_command(*CHAT_OPENAI), env), "AttributeError")
    assert line.endswith("(this is a bug; rerun with -v to see the traceback)")
    verbose = run(ai_command("-v", *CHAT_OPENAI), env)
    assert verbose.returncode == 1
    assert "Traceback (most recent call last)" in verbose.stderr
    assert verbose.stderr.splitlines()[-1].startswith("Error: unexpected AttributeError")


def test_the_one_path_covers_plugin_commands(tmp_path: Path) -> None:
    """A command added later inherits the reporter: a plugin command raising OSError is one line too."""
    code = (
        "import click, sys\n"
        "from ai_core.cli import cli, main\n"
        "@cli.command()\n"
        "def broken():\n"
        "    open('/nonexistent/dir/file')\n"
        "sys.argv = ['ai', 'broken']\n"
        "main()\n"
    )
    done = run([sys.executable, "-c", code], base_env(tmp_path))
    assert_one_line(done, "/nonexistent/dir/file: no such file or directory")
