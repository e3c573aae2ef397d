"""Helpers shared by the benchmarks in this folder.

Each benchmark starts its own ``labelbay serve`` as a subprocess (fresh data dir, SQLite by
default or an emptied PostgreSQL database), signs in, measures, and prints a table. Nothing
here imports the server's own modules: the server is driven from the outside, as a user
would run it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger("bench")

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
ADMIN_USERNAME = "bench-admin"
MB = 1_000_000


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore", "urllib3", "cvat_sdk"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def default_cache_dir() -> Path:
    """Where generated inputs are kept between runs (they take a while to make)."""
    return Path(tempfile.gettempdir()) / "labelbay-bench-cache"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- PostgreSQL -------------------------------------------------------------------------------


def reset_postgres(url: str) -> None:
    """Creates the database of ``url`` if it is missing, then drops and recreates ``public``."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    name = target.database
    if not name:
        raise SystemExit(f"--database-url: name a database in {url!r}")
    maintenance = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with maintenance.connect() as conn:
            found = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if not found:
                log.info("creating database %s", name)
                quoted = name.replace('"', '""')
                conn.execute(text(f'CREATE DATABASE "{quoted}"'))
    finally:
        maintenance.dispose()
    engine = create_engine(target, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def database_kind(database_url: str | None) -> str:
    if not database_url:
        return "sqlite"
    return database_url.split(":", 1)[0].split("+", 1)[0]


# --- The server process ---------------------------------------------------------------------


def read_status_kib(pid: int, key: str) -> int | None:
    """A ``kB`` field of /proc/<pid>/status (VmRSS, VmHWM, ...), in KiB; None if unreadable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (found through the parent ids in /proc/*/stat).

    ``labelbay serve --workers N`` is a supervisor with N worker processes under it; memory
    and CPU of "the server" are those of the whole tree.
    """
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as stat:
                # The command name (2nd field) may hold spaces; the fields after it do not.
                after = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(after[1]), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time the process has used so far; None if unreadable."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            after = stat.read().rsplit(")", 1)[1].split()
        # utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        return (int(after[11]) + int(after[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class Server:
    """A running ``labelbay serve`` subprocess and the administrator it was given."""

    url: str
    port: int
    data_dir: Path
    database_url: str | None
    username: str
    password: str
    process: subprocess.Popen[bytes]
    log_path: Path
    workers: int = 1
    """Server processes (``--workers``); above 1, ``pid`` is uvicorn's supervisor."""

    @property
    def pid(self) -> int:
        return self.process.pid

    def pids(self) -> list[int]:
        """The server process and its descendants (the workers under ``--workers N``)."""
        return process_tree(self.pid)

    def tree_rss_bytes(self) -> int:
        """The summed VmRSS of the server's processes."""
        return sum((read_status_kib(pid, "VmRSS") or 0) * 1024 for pid in self.pids())

    def tree_peak_rss_bytes(self) -> int:
        """The summed VmHWM of the server's processes: an upper bound of their joint peak."""
        return sum((read_status_kib(pid, "VmHWM") or 0) * 1024 for pid in self.pids())

    def tree_cpu_seconds(self) -> float:
        """CPU time used so far by the server's processes that are alive now."""
        return sum(cpu_seconds(pid) or 0.0 for pid in self.pids())

    def rss_bytes(self) -> int | None:
        kib = read_status_kib(self.pid, "VmRSS")
        return None if kib is None else kib * 1024

    def peak_rss_bytes(self) -> int | None:
        """VmHWM: the largest resident set of the process since it started (or since the last
        ``reset_peak_rss``)."""
        kib = read_status_kib(self.pid, "VmHWM")
        return None if kib is None else kib * 1024

    def reset_peak_rss(self) -> bool:
        """Resets VmHWM to the current RSS; False if not permitted."""
        return reset_peak_rss(self.pid)

    @contextmanager
    def client(self, timeout: float = 600.0) -> Iterator[httpx.Client]:
        """A plain HTTP client signed in with a token as the administrator."""
        with httpx.Client(base_url=self.url, timeout=timeout) as http:
            reply = http.post(
                "/api/auth/login", json={"username": self.username, "password": self.password}
            )
            reply.raise_for_status()
            http.headers["Authorization"] = f"Token {reply.json()['key']}"
            yield http

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _server_command() -> list[str]:
    # The module form runs under this very interpreter, so the process whose memory we read
    # is the server itself and not a wrapper script.
    return [sys.executable, "-m", "labelbay.cli"]


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"labelbay serve exited with {process.returncode}:\n"
                + log_path.read_text(errors="replace")
            )
        with suppress(httpx.TransportError):
            if httpx.get(f"{url}/api/server/about", timeout=2).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError("labelbay serve did not answer /api/server/about within 60 s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    # uvicorn's supervisor (--workers N) can return before its workers are gone, and a
    # worker still building a chunk would write into the data dir after it was removed:
    # wait for every process of the tree.
    others = [pid for pid in process_tree(process.pid) if pid != process.pid]
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
    for last_chance in (False, True):
        deadline = time.monotonic() + 15
        while others and time.monotonic() < deadline:
            time.sleep(0.05)
            others = [pid for pid in others if _alive(pid)]
        if not others:
            return
        if last_chance:
            log.warning("server processes %s outlived the server and SIGKILL", others)
            return
        for pid in others:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie, exited but not reaped, is not)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@contextmanager
def running_server(
    *,
    database_url: str | None = None,
    extra_env: dict[str, str] | None = None,
    keep_data: bool = False,
    data_root: Path | None = None,
    label: str = "server",
    workers: int = 1,
) -> Iterator[Server]:
    """Starts ``labelbay serve`` on a free loopback port with a fresh temporary data dir.

    With ``database_url`` the server uses that PostgreSQL database, emptied first; otherwise
    a SQLite file in the data dir. An administrator is created with ``labelbay user create``.
    ``workers`` above 1 runs ``labelbay serve --workers N`` (uvicorn's supervisor and N
    worker processes). The data dir is made in ``data_root`` (default: the system's
    temporary folder). The
    server is stopped and the data dir removed (unless ``keep_data``) on the way out.
    """
    if data_root is not None:
        data_root.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix=f"labelbay-bench-{label}-", dir=data_root))
    password = "bench-" + secrets.token_hex(8)
    env = {**os.environ, "LABELBAY_DATA_DIR": str(data_dir), "LABELBAY_PASSWORD": password}
    env.pop("LABELBAY_DATABASE_URL", None)
    if database_url:
        reset_postgres(database_url)
        env["LABELBAY_DATABASE_URL"] = database_url
    env.update(extra_env or {})
    command = _server_command()
    created = subprocess.run(
        [*command, "user", "create", "--username", ADMIN_USERNAME, "--superuser",
         "--data-dir", str(data_dir)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if created.returncode != 0:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise RuntimeError(f"labelbay user create failed:\n{created.stdout}{created.stderr}")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = data_dir / "server.log"
    with open(log_path, "wb") as out:
        process = subprocess.Popen(
            [*command, "serve", "--host", "127.0.0.1", "--port", str(port),
             "--data-dir", str(data_dir), "--log-level", "warning",
             *(["--workers", str(workers)] if workers > 1 else [])],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = Server(
        url, port, data_dir, database_url, ADMIN_USERNAME, password, process, log_path, workers
    )
    try:
        _wait_until_up(url, process, log_path)
        log.info("%s: labelbay serve pid %d on %s (data in %s)", label, process.pid, url, data_dir)
        yield server
    finally:
        _stop(process)
        if "Traceback" in server.log_tail(10_000):
            log.warning("%s: the server log has errors:\n%s", label, server.log_tail())
        if keep_data:
            log.info("%s: data kept in %s", label, data_dir)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


class RssSampler:
    """Samples a process's VmRSS every ``period`` seconds in a thread; keeps the peak."""

    def __init__(self, pid: int, period: float = 0.05) -> None:
        self.pid = pid
        self.period = period
        self.peak_bytes = 0
        self.samples = 0
        self._process: Any = None
        try:
            import psutil
        except ImportError:  # psutil is optional: /proc/<pid>/status serves as well on Linux
            pass
        else:
            with suppress(psutil.Error):
                self._process = psutil.Process(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _read(self) -> int | None:
        if self._process is None:
            kib = read_status_kib(self.pid, "VmRSS")
            return None if kib is None else kib * 1024
        try:
            rss: int = self._process.memory_info().rss
        except Exception:  # the process is gone (psutil.Error) or unreadable
            return None
        return rss

    def _run(self) -> None:
        while True:
            rss = self._read()
            if rss is not None:
                self.samples += 1
                self.peak_bytes = max(self.peak_bytes, rss)
            if self._stop.wait(self.period):
                return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        rss = self._read()  # one last sample, at the very end
        if rss is not None:
            self.peak_bytes = max(self.peak_bytes, rss)


def probe_file_creation(root: Path | None, count: int = 200) -> float:
    """Mean seconds to create one empty file in a new folder under ``root``.

    Ingest creates a file per image, so this puts the results in context: on some file
    systems (ext4 without a journal, after many deletions) a create costs a millisecond.
    """
    folder = Path(tempfile.mkdtemp(prefix="labelbay-bench-probe-", dir=root))
    try:
        started = time.perf_counter()
        for i in range(count):
            os.close(os.open(folder / f"f{i}", os.O_WRONLY | os.O_CREAT, 0o644))
        return (time.perf_counter() - started) / count
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- Numbers and reports ----------------------------------------------------------------------


@dataclass
class Stats:
    runs: int
    median: float
    min: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        if not values:
            raise ValueError("no values")
        return cls(len(values), statistics.median(values), min(values), max(values))

    def as_dict(self) -> dict[str, float | int]:
        return {"runs": self.runs, "median": self.median, "min": self.min, "max": self.max}


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 0.001:
        return f"{seconds * 1_000_000:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_bytes(size: float | None) -> str:
    if size is None:
        return "-"
    if size < MB:
        return f"{size / 1000:.0f} kB"
    if size < 100 * MB:
        return f"{size / MB:.1f} MB"
    return f"{size / MB:,.0f} MB"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_DIR, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages: other work on the machine skews the results."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine_info() -> dict[str, Any]:
    mem_kib = None
    with suppress(OSError, ValueError, IndexError), open("/proc/meminfo", encoding="ascii") as f:
        mem_kib = int(f.readline().split()[1])
    status = _git("status", "--porcelain")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average": load_average(),
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_bytes": mem_kib * 1024 if mem_kib else None,
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "packages": {
            name: _version(name)
            for name in ("labelbay", "cvat-sdk", "httpx", "pillow", "sqlalchemy", "uvicorn")
        },
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
    }


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    right: set[int] = field(default_factory=set)

    def add(self, *cells: str) -> None:
        self.rows.append(list(cells))

    def show(self) -> None:
        try:
            from rich.console import Console
            from rich.table import Table as RichTable
        except ImportError:
            print(self.plain())
            return
        table = RichTable(title=self.title)
        for i, name in enumerate(self.columns):
            table.add_column(name, justify="right" if i in self.right else "left")
        for row in self.rows:
            table.add_row(*row)
        console = Console()
        if not console.is_terminal:  # piped to a file: do not wrap at 80 columns
            console = Console(width=max(console.width, 200))
        console.print(table)

    def plain(self) -> str:
        widths = [len(c) for c in self.columns]
        for row in self.rows:
            widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

        def line(cells: Sequence[str]) -> str:
            parts = [
                cell.rjust(w) if i in self.right else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
            ]
            return "  ".join(parts).rstrip()

        rule = "  ".join("-" * w for w in widths)
        body = [line(row) for row in self.rows]
        return "\n".join([self.title, line(self.columns), rule, *body])


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    log.info("wrote %s", path)


def add_run_options(
    parser: argparse.ArgumentParser, json_name: str, *, cache: str | None = None
) -> None:
    """The options every bench takes: the database, where results and data go, --check and
    --verbose (``cache``: what the --cache-dir keeps between runs, for benches that have one)."""
    parser.add_argument(
        "--database-url",
        help="run on this PostgreSQL database (it is created if missing and EMPTIED), e.g. "
        "postgresql+psycopg://postgres@127.0.0.1:5432/labelbay_bench; default: SQLite",
    )
    parser.add_argument(
        "--json", type=Path, default=RESULTS_DIR / json_name,
        help=f"where to write the results (default bench/results/{json_name})",
    )  # fmt: skip
    if cache is not None:
        parser.add_argument(
            "--cache-dir", type=Path, default=default_cache_dir(),
            help=f"where {cache} are kept between runs (default: %(default)s)",
        )  # fmt: skip
    parser.add_argument(
        "--data-root", type=Path,
        help="where the servers' data dirs are made (default: the system's temporary folder)",
    )  # fmt: skip
    parser.add_argument("--keep-data", action="store_true", help="keep the servers' data dirs")
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 when a target is missed"
    )
    parser.add_argument("-v", "--verbose", action="store_true")


def redacted(url: str | None) -> str | None:
    """A database URL without its password, for reports."""
    if not url:
        return None
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def reset_peak_rss(pid: int) -> bool:
    """Resets a process's VmHWM to its current RSS (Linux ``clear_refs`` 5); False if not
    permitted."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def server_for(args: argparse.Namespace, label: str, **options: Any) -> Any:
    """:func:`running_server` with the database and data options of ``add_run_options``."""
    return running_server(
        database_url=args.database_url, keep_data=args.keep_data, data_root=args.data_root,
        label=label, **options,
    )  # fmt: skip
