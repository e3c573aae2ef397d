"""py-spy profiles of a running bench server, summed up by thread role, stage and package.

``Profiler(server, path, seconds)`` records raw stacks (``--nonblocking``, ``--subprocesses``
with several server processes); ``summarize_profile`` turns them into shares of the busy
samples (those not waiting on a lock, a socket or a queue); ``print_profile`` prints them.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from _common import Server

log = logging.getLogger("bench.pyspy")


@dataclass
class Profile:
    path: str
    seconds: float
    samples: int = 0
    top_self: list[tuple[str, float]] = field(default_factory=list)
    top_total: list[tuple[str, float]] = field(default_factory=list)
    by_package: list[tuple[str, float]] = field(default_factory=list)
    by_role: list[tuple[str, float]] = field(default_factory=list)
    by_stage: list[tuple[str, float]] = field(default_factory=list)
    busy: int = 0
    """Samples whose innermost frame is not a wait (a lock, a future, a queue): the shares
    above are of these. Idle pool threads waiting for work would drown the rest."""
    error: str = ""


class Profiler:
    """``py-spy record`` of the server (all its processes) for ``seconds``, as raw stacks."""

    def __init__(self, server: Server, path: Path, seconds: float) -> None:
        self.server, self.path, self.seconds = server, path, seconds
        self.process: subprocess.Popen[bytes] | None = None
        self.error = ""

    def start(self) -> None:
        exe = shutil.which("py-spy")
        if exe is None:
            self.error = "py-spy is not installed"
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            exe, "record", "--pid", str(self.server.pid), "--duration", str(int(self.seconds)),
            "--rate", "100", "--format", "raw", "--nonblocking", "--output", str(self.path),
        ]  # fmt: skip
        if self.server.workers > 1:
            command.append("--subprocesses")
        log.info("profiling the server with py-spy for %.0f s", self.seconds)
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def finish(self) -> Profile:
        profile = Profile(str(self.path), self.seconds, error=self.error)
        if self.process is None:
            return profile
        try:
            out, _ = self.process.communicate(timeout=self.seconds + 60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        if self.process.returncode != 0 or not self.path.exists():
            profile.error = out.decode(errors="replace")[-2000:]
            return profile
        return summarize_profile(self.path, self.seconds)


def _frame_parts(frame: str) -> tuple[str, str]:
    """("function", "file") of a py-spy raw frame "function (file:line)"."""
    name, _, where = frame.rpartition(" (")
    if not name:
        return frame, ""
    return name, where.rstrip(")").rsplit(":", 1)[0]


def _package(file: str) -> str:
    path = file.replace("\\", "/")
    for marker in ("site-packages/", "dist-packages/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    if path.startswith("labelbay/"):
        parts = path.split("/")
        return "/".join(parts[:2]) if len(parts) > 2 else "labelbay"
    top = path.split("/", 1)[0]
    if top.endswith(".py") or top.startswith("<"):
        return "stdlib/" + top.removesuffix(".py")
    if "python3" in top or "/lib/python" in file:
        return "stdlib"
    return top


# What a thread of the server does, told by a function on its stack (first match wins).
ROLES = (
    ("build pool (MediaCache._build)", "MediaCache._build"),
    ("pre-generation (prepare_data)", "prepare_data"),
    ("background queue (huey)", "huey/"),
    ("request threads (sync endpoints)", "WorkerThread.run"),
    ("event loop (uvicorn, async code)", "Server.run"),
)
WAITS = frozenset({
    "Condition.wait", "Event.wait", "Thread.join", "_wait_for_tstate_lock", "Future.result",
    "Queue.get", "SimpleQueue.get", "select", "poll",
})  # fmt: skip


# Stages of the work, each a set of functions whose presence on a stack puts the sample in
# it (inclusive, so they overlap: the frame endpoint contains its DB queries).
STAGES = (
    ("event loop thread (HTTP parsing, routing, sending)", ("Server.run (",)),
    ("  routing (FastAPI route matching)", ("_IncludedRouter._match", "APIRoute.matches")),
    ("frame/chunk endpoint (job_data, task_data)", ("job_data (", "task_data (")),
    ("  SQLAlchemy (any DB work)", ("sqlalchemy/",)),
    ("  DB connection open/close", ("_sqlite_connect", "do_close (", "DefaultDialect.connect")),
    ("  DB BEGIN and COMMIT", ("_sqlite_begin", "_commit_all", "do_commit (")),
    ("  file_response (stat, validators, headers)", ("file_response (",)),
    ("media cache (lookups, writes)", ("MediaCache.",)),
    ("JPEG/PNG coding (Pillow)", ("PIL/",)),
    ("video (PyAV decode/encode)", ("av/", "media/video.py")),
    ("zip chunks", ("write_zip_chunk", "_zip (")),
)


def _role(frames: Sequence[str]) -> str:
    for role, marker in ROLES:
        if any(marker in frame for frame in frames):
            return role
    return "other"


def summarize_profile(path: Path, seconds: float, top: int = 15) -> Profile:
    """Self and total shares of functions, self shares of packages and thread roles, in a
    raw py-spy profile (one "frame;frame;... count" line per distinct stack)."""
    self_counts: Counter[str] = Counter()
    total_counts: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    roles: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    samples = busy = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [
            f for f in stack.split(";") if not f.startswith(("process ", "thread ", "<module>"))
        ]
        if not frames:
            continue
        samples += count
        if _frame_parts(frames[-1])[0] in WAITS:
            continue
        busy += count
        labels = []
        for frame in frames:
            name, file = _frame_parts(frame)
            labels.append(f"{name} ({file})")
        self_counts[labels[-1]] += count
        for label in set(labels):
            total_counts[label] += count
        packages[_package(_frame_parts(frames[-1])[1])] += count
        roles[_role(frames)] += count
        for stage, markers in STAGES:
            if any(marker in frame for frame in frames for marker in markers):
                stages[stage] += count
    profile = Profile(str(path), seconds, samples, busy=busy)
    if busy:
        profile.top_self = [(k, v / busy) for k, v in self_counts.most_common(top)]
        profile.top_total = [(k, v / busy) for k, v in total_counts.most_common(top * 2)]
        profile.by_package = [(k, v / busy) for k, v in packages.most_common(top)]
        profile.by_role = [(k, v / busy) for k, v in roles.most_common()]
        profile.by_stage = [(stage, stages[stage] / busy) for stage, _ in STAGES]
    return profile


def print_profile(title: str, profile: Profile | None) -> None:
    if profile is None:
        return
    print()
    if profile.error:
        print(f"{title}: no profile ({profile.error.strip()})")
        return
    print(
        f"{title}: py-spy, {profile.samples} thread samples in {profile.seconds:.0f} s, "
        f"{profile.busy} of them busy (not in a wait); shares are of the busy ones "
        f"- {profile.path}"
    )
    print("  by thread role:")
    for name, share in profile.by_role:
        print(f"    {share:6.1%}  {name}")
    print("  by stage (inclusive, overlapping):")
    for name, share in profile.by_stage:
        if share:
            print(f"    {share:6.1%}  {name}")
    print("  self time by package:")
    for name, share in profile.by_package[:10]:
        print(f"    {share:6.1%}  {name}")
    print("  self time by function:")
    for name, share in profile.top_self[:12]:
        print(f"    {share:6.1%}  {name}")
    print("  total time (function and what it calls):")
    for name, share in profile.top_total[:20]:
        print(f"    {share:6.1%}  {name}")
