"""Shared pieces of the benchmarks: server processes, load generation, events, tables, profiles.

Load comes from ``wrk`` (a Lua script builds each body from a pre-built template with a unique id
per request) or, when wrk is not installed, from a Python asyncio keep-alive client on raw sockets.
Every figure the benchmarks print is also given as a ratio to a baseline measured in the same run,
because the machine they run on is small, shared and noisy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / "data"
PYTHON = sys.executable
# BENCH_SRC=/path/to/src runs the servers (and in-process code) from that source tree instead of
# the editable install, e.g. a `git archive HEAD src` snapshot while others edit the work tree.
SRC_OVERRIDE = os.environ.get("BENCH_SRC")
if SRC_OVERRIDE:
    sys.path.insert(0, SRC_OVERRIDE)

WRK_INSTALL = "apt-get update && apt-get install -y wrk"
WRK_HINT = (
    f"wrk is not installed; using the slower Python asyncio client instead (install wrk with: "
    f"{WRK_INSTALL})"
)

# --------------------------------------------------------------------------------------------
# Server processes
# --------------------------------------------------------------------------------------------

# How `modeltower serve` runs uvicorn: uvicorn.run(app, ..., access_log=False) with http="auto"
# and loop="auto", which resolve to httptools and uvloop when installed (they are: uvicorn[standard]).
SERVER_CONFIGS: dict[str, tuple[str, str]] = {
    "httptools+uvloop": ("httptools", "uvloop"),  # what `modeltower serve` resolves to
    "h11+asyncio": ("h11", "asyncio"),  # pure-Python protocol and loop, for comparison
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MODELTOWER_")}
    if SRC_OVERRIDE:
        base["PYTHONPATH"] = os.pathsep.join(
            p for p in (SRC_OVERRIDE, base.get("PYTHONPATH", "")) if p
        )
    return {**base, **(extra or {})}


def code_version() -> str:
    """Which modeltower code the servers run: BENCH_SRC, or the git commit (+ local changes)."""
    if SRC_OVERRIDE:
        return f"BENCH_SRC={SRC_OVERRIDE}"
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            text=True,
            capture_output=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=REPO, text=True, capture_output=True
        ).stdout.strip()
        return f"git {sha}" + (" + uncommitted changes in src/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


_TICK = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """``pid`` and the processes it started, and theirs (the server's decode workers)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo += [int(x) for x in task.read_text().split()]
    return found


def proc_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) used so far by a process with the processes it started, and
    by its main thread alone."""

    def read(path: str) -> float:
        try:
            with open(path) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # exited meanwhile
            return 0.0
        return (int(fields[11]) + int(fields[12])) / _TICK

    total = sum(read(f"/proc/{p}/stat") for p in process_tree(pid))
    return total, read(f"/proc/{pid}/task/{pid}/stat")


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {_tail(log_path)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/readyz", timeout=1.0).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"server did not become ready in {timeout} s: {_tail(log_path)}")


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-3000:]
    except OSError:
        return ""


class Server:
    """A server in a child process on a loopback port; ``url`` and ``pid`` once started."""

    def __init__(self, name: str, cmd: list[str], port: int, env: dict[str, str], log: Path):
        self.name = name
        self.cmd = cmd
        self.port = port
        self.env = env
        self.log_path = log
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> Server:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=REPO
            )
        try:
            _wait_ready(self.url, self.proc, self.log_path, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM (a clean shutdown: the writer commits what is queued), SIGKILL if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _uvicorn_flags(port: int, http: str, loop: str) -> list[str]:
    # The same flags for both apps; they mirror modeltower's uvicorn.run(..., access_log=False)
    # under ServerProcess's --log-level warning.
    return [
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--http",
        http,
        "--loop",
        loop,
        "--log-level",
        "warning",
        "--no-access-log",
    ]


def trivial_server(config: str, workdir: Path, parser: str = "msgspec") -> Server:
    """The parse-only baseline (bench/trivial_app.py) under ``python -m uvicorn``."""
    http, loop = SERVER_CONFIGS[config]
    port = free_port()
    cmd = [PYTHON, "-m", "uvicorn", "trivial_app:app", "--app-dir", str(BENCH_DIR)]
    cmd += _uvicorn_flags(port, http, loop)
    env = _clean_env({"TRIVIAL_PARSER": parser})
    return Server("trivial", cmd, port, env, workdir / f"trivial.{port}.log")


def modeltower_app() -> Any:
    """uvicorn ``--factory`` target: modeltower's app with settings from MODELTOWER_* variables."""
    from modeltower.app import create_app
    from modeltower.config import from_env

    return create_app(from_env())


def modeltower_server(
    config: str, db_path: Path, workdir: Path, serve_args: tuple[str, ...] = ()
) -> Server:
    """A real modeltower server (``serve_args``: more options of ``serve``).

    For ``httptools+uvloop`` this is exactly ``python -m modeltower serve`` (the command
    ``modeltower.testing.ServerProcess`` runs; uvicorn's "auto" picks httptools + uvloop). For any
    other config it is modeltower's ``create_app`` under ``python -m uvicorn --factory`` with the
    same flags as the baseline, so that both sides always share the same server options.
    """
    http, loop = SERVER_CONFIGS[config]
    port = free_port()
    log = workdir / f"modeltower.{port}.log"
    if config == "httptools+uvloop":
        cmd = [PYTHON, "-m", "modeltower", "serve", "--db", str(db_path)]
        cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        cmd += list(serve_args)
        return Server("modeltower", cmd, port, _clean_env(), log)
    cmd = [PYTHON, "-m", "uvicorn", "_common:modeltower_app", "--factory"]
    cmd += ["--app-dir", str(BENCH_DIR), *_uvicorn_flags(port, http, loop)]
    env = _clean_env({"MODELTOWER_DB_PATH": str(db_path), "MODELTOWER_LOG_LEVEL": "warning"})
    return Server("modeltower", cmd, port, env, log)


# --------------------------------------------------------------------------------------------
# Request bodies: a template with an id placeholder; each request substitutes a unique prefix
# --------------------------------------------------------------------------------------------

ID_MARK = "@@RID@@"
_SEP = b"\x01"  # separates template pieces in the file wrk's Lua script reads; never in JSON

FEATURE_PLANS = ["basic", "plus", "pro", "enterprise"]
COUNTRIES = ["de", "fr", "us", "br", "jp", "in", "gb", "es"]
REGIONS = ["eu", "us", "apac", "latam"]
CHANNELS = ["web", "ios", "android", "api"]


def realistic_event(rng: random.Random, model: str, event_id: str, now: float) -> dict[str, Any]:
    """A classification event as a churn model would log it: 8 features, 2 tags."""
    score = rng.random()
    return {
        "model": model,
        "version": rng.choice(["v3", "v4"]),
        "id": event_id,
        "timestamp": round(now - rng.uniform(0.0, 3600.0), 6),
        "prediction": "churn" if score >= 0.5 else "stay",
        "score": round(score, 6),
        "latency_ms": round(rng.lognormvariate(3.0, 0.5), 3),
        "features": {
            "tenure_months": rng.randint(0, 120),
            "monthly_spend": round(rng.uniform(5, 500), 2),
            "logins_7d": rng.randint(0, 50),
            "support_tickets": rng.randint(0, 5),
            "avg_session_min": round(rng.expovariate(1 / 12), 3),
            "plan": rng.choice(FEATURE_PLANS),
            "country": rng.choice(COUNTRIES),
            "has_discount": rng.random() < 0.3,
        },
        "tags": {"region": rng.choice(REGIONS), "channel": rng.choice(CHANNELS)},
    }


@dataclass(frozen=True)
class Template:
    """Body pieces around the id placeholder: body = rid.join(pieces)."""

    model: str
    events_per_request: int
    pieces: list[bytes]

    def body(self, rid: str) -> bytes:
        return rid.encode().join(self.pieces)

    @property
    def body_bytes(self) -> int:
        return len(self.body("x" * 12))


def make_template(model: str, events: int, seed: int = 1) -> Template:
    """One event (a JSON object) or a JSON array of ``events`` events with ids ``<rid>-<j>``."""
    rng = random.Random(seed)
    now = time.time()
    if events == 1:
        obj: Any = realistic_event(rng, model, ID_MARK, now)
    else:
        obj = [realistic_event(rng, model, f"{ID_MARK}-{j}", now) for j in range(events)]
    text = json.dumps(obj, separators=(",", ":"))
    return Template(model, events, [p.encode() for p in text.split(ID_MARK)])


# --------------------------------------------------------------------------------------------
# Load generation
# --------------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    client: str
    duration_s: float
    issued: int  # requests started (written, or being written, to the socket)
    ok: int  # 2xx responses
    non2xx: int
    socket_errors: int
    accepted: int  # sum of "accepted" over 2xx bodies (0 when the server does not say)
    p50_ms: float
    p99_ms: float
    server_cpu_s: float = float("nan")  # whole server process during the measured run
    server_main_cpu_s: float = float("nan")  # its main thread (the event loop)

    @property
    def cpu_us_per_req(self) -> float:
        return 1e6 * self.server_cpu_s / self.ok if self.ok else float("nan")

    @property
    def main_us_per_req(self) -> float:
        return 1e6 * self.server_main_cpu_s / self.ok if self.ok else float("nan")

    @property
    def rps(self) -> float:
        return self.ok / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def unanswered(self) -> int:
        """Requests still in flight when the load generator stopped (wrk stops abruptly)."""
        return max(0, self.issued - self.ok - self.non2xx)


_WRK_LUA = r"""
-- Generated by bench/_common.py. args: <pieces file> <id prefix> <path>
local pieces, npieces, prefix, path
local headers = {["Content-Type"] = "application/json"}
local counter = 0
issued, ok, non2xx, accepted = 0, 0, 0, 0
local threads = {}
local nthreads = 0

function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  pieces = {}
  local start = 1
  while true do
    local i = string.find(data, "\1", start, true)
    if not i then
      table.insert(pieces, string.sub(data, start))
      break
    end
    table.insert(pieces, string.sub(data, start, i - 1))
    start = i + 1
  end
  npieces = #pieces
  prefix = args[2] .. "t" .. tid .. "-"
  path = args[3]
end

function request()
  counter = counter + 1
  issued = counter
  local rid = prefix .. counter
  local body
  if npieces == 2 then
    body = pieces[1] .. rid .. pieces[2]
  else
    local t = {}
    for i = 1, npieces - 1 do
      t[2 * i - 1] = pieces[i]
      t[2 * i] = rid
    end
    t[2 * npieces - 1] = pieces[npieces]
    body = table.concat(t)
  end
  return wrk.format("POST", path, headers, body)
end

function response(status, hdrs, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
    local a = string.match(body, '"accepted":(%d+)')
    if a then accepted = accepted + tonumber(a) end
  else
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local s = {issued = 0, ok = 0, non2xx = 0, accepted = 0}
  for _, t in ipairs(threads) do
    for k, _ in pairs(s) do s[k] = s[k] + t:get(k) end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"issued":%d,"ok":%d,"non2xx":%d,"accepted":%d,"duration_us":%d,' ..
    '"p50_us":%.1f,"p99_us":%.1f,"err_connect":%d,"err_read":%d,"err_write":%d,' ..
    '"err_timeout":%d}\n',
    s.issued, s.ok, s.non2xx, s.accepted, summary.duration, latency:percentile(50),
    latency:percentile(99), e.connect, e.read, e.write, e.timeout))
end
"""


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def pick_client(choice: str) -> str:
    """'wrk' when asked for or available, else 'python' (saying how to get wrk)."""
    if choice == "python":
        return "python"
    if have_wrk():
        return "wrk"
    if choice == "wrk":
        raise SystemExit(
            f"wrk is not installed; install it with: {WRK_INSTALL} (or --client python)"
        )
    print(WRK_HINT, file=sys.stderr)
    return "python"


def run_load(
    client: str,
    url: str,
    path: str,
    template: Template,
    prefix: str,
    *,
    connections: int,
    duration: float,
    threads: int = 1,
) -> LoadResult:
    """POST ``template`` bodies with unique ids over ``connections`` keep-alive connections."""
    if client == "wrk":
        return _run_wrk(url, path, template, prefix, connections, duration, threads)
    return _run_python(url, path, template, prefix, connections, duration)


def measured_load(
    client: str,
    server: Server,
    path: str,
    template: Template,
    prefix: str,
    *,
    connections: int,
    duration: float,
    threads: int = 1,
    profile_to: Path | None = None,
) -> LoadResult:
    """run_load() against ``server``, recording the server's CPU use (and a py-spy profile)."""
    cpu0, main0 = proc_cpu(server.pid)
    spy = PySpy(server.pid, profile_to, duration) if profile_to else contextlib.nullcontext()
    with spy:
        res = run_load(
            client,
            server.url,
            path,
            template,
            prefix,
            connections=connections,
            duration=duration,
            threads=threads,
        )
    cpu1, main1 = proc_cpu(server.pid)
    res.server_cpu_s, res.server_main_cpu_s = cpu1 - cpu0, main1 - main0
    return res


def _run_wrk(
    url: str,
    path: str,
    template: Template,
    prefix: str,
    connections: int,
    duration: float,
    threads: int,
) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="mt-wrk-") as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(_WRK_LUA)
        pieces = Path(tmp) / "pieces.bin"
        pieces.write_bytes(_SEP.join(template.pieces))
        cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration:g}s"]
        cmd += ["--timeout", "60s", "-s", str(script), url, "--", str(pieces), prefix, path]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 120)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout}\n{out.stderr}")
    d = json.loads(line.split(" ", 1)[1])
    return LoadResult(
        client="wrk",
        duration_s=d["duration_us"] / 1e6,
        issued=d["issued"],
        ok=d["ok"],
        non2xx=d["non2xx"],
        socket_errors=d["err_connect"] + d["err_read"] + d["err_write"] + d["err_timeout"],
        accepted=d["accepted"],
        p50_ms=d["p50_us"] / 1000,
        p99_ms=d["p99_us"] / 1000,
    )


_CONTENT_LENGTH = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")
_ACCEPTED = re.compile(rb'"accepted":(\d+)')


@dataclass
class _PyStats:
    issued: int = 0
    ok: int = 0
    non2xx: int = 0
    socket_errors: int = 0
    accepted: int = 0


async def _py_connection(
    host: str,
    port: int,
    path: str,
    template: Template,
    prefix: str,
    deadline: float,
    st: _PyStats,
    lat: list[int],
) -> float:
    """One keep-alive connection: request, wait for the answer, repeat until the deadline.
    Stops issuing at the deadline but waits for its last answer, so nothing is left in flight."""
    reader, writer = await asyncio.open_connection(host, port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/json\r\nContent-Length: "
    ).encode()
    n = 0
    last = time.perf_counter()
    try:
        while time.perf_counter() < deadline:
            n += 1
            body = template.body(f"{prefix}{n}")
            t0 = time.perf_counter_ns()
            writer.write(b"%s%d\r\n\r\n%s" % (head, len(body), body))
            st.issued += 1
            hdr = await reader.readuntil(b"\r\n\r\n")
            m = _CONTENT_LENGTH.search(hdr)
            resp = await reader.readexactly(int(m.group(1))) if m else b""
            lat.append(time.perf_counter_ns() - t0)
            last = time.perf_counter()
            if hdr[9:10] == b"2":
                st.ok += 1
                a = _ACCEPTED.search(resp)
                if a:
                    st.accepted += int(a.group(1))
            else:
                st.non2xx += 1
    except (OSError, asyncio.IncompleteReadError):
        st.socket_errors += 1
    finally:
        writer.close()
    return last


def _run_python(
    url: str, path: str, template: Template, prefix: str, connections: int, duration: float
) -> LoadResult:
    host, port = url.removeprefix("http://").split(":")
    st = _PyStats()
    lat: list[int] = []

    async def main() -> tuple[float, float]:
        start = time.perf_counter()
        deadline = start + duration
        ends = await asyncio.gather(
            *(
                _py_connection(host, int(port), path, template, f"{prefix}c{i}-", deadline, st, lat)
                for i in range(connections)
            )
        )
        return start, max(ends)

    try:
        import uvloop

        start, end = uvloop.run(main())
    except ImportError:
        start, end = asyncio.run(main())
    lat.sort()
    return LoadResult(
        client="python",
        duration_s=end - start,
        issued=st.issued,
        ok=st.ok,
        non2xx=st.non2xx,
        socket_errors=st.socket_errors,
        accepted=st.accepted,
        p50_ms=_pct(lat, 50) / 1e6,
        p99_ms=_pct(lat, 99) / 1e6,
    )


def _pct(sorted_values: Sequence[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def stored_count(url: str, model: str, window: str = "24h") -> int:
    """How many events of ``model`` the server holds, via GET /v1/models/{m}/metrics."""
    import httpx

    r = httpx.get(f"{url}/v1/models/{model}/metrics", params={"window": window}, timeout=120)
    r.raise_for_status()
    return int(r.json()["count"])


def run_token() -> str:
    return os.urandom(3).hex()


# --------------------------------------------------------------------------------------------
# Profiling with py-spy (optional)
# --------------------------------------------------------------------------------------------


class PySpy:
    """``py-spy record --format raw`` of a process for ``duration`` seconds, in the background."""

    def __init__(self, pid: int, out: Path, duration: float, rate: int = 200) -> None:
        exe = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
        if not Path(exe).exists():
            raise SystemExit("py-spy not found: /work/main/.venv/bin/pip install py-spy")
        self.out = out
        self.cmd = [exe, "record", "-p", str(pid), "-d", str(int(duration)), "-r", str(rate)]
        self.cmd += ["-f", "raw", "-o", str(out), "--threads", "--nonblocking"]
        # e.g. BENCH_PYSPY_ARGS=--gil: only the samples of the thread holding the GIL
        self.cmd += os.environ.get("BENCH_PYSPY_ARGS", "").split()
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PySpy:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(30)


_FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")


def _short(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    f = m.group("file")
    for marker in ("site-packages/", "src/", "lib/python3"):
        if marker in f:
            f = f.split(marker, 1)[1]
            break
    return f"{m.group('fn')} ({f})"


def summarize_pyspy(raw: Path, top: int = 18) -> str:
    """Per thread: share of samples; the top functions by self time and by inclusive time."""
    per_thread: Counter[str] = Counter()
    self_t: Counter[tuple[str, str]] = Counter()
    incl: Counter[tuple[str, str]] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        frames = stack.split(";")
        thread = re.sub(r"\s*\(?0x[0-9a-f]+\)?", "", frames[0]).strip() or frames[0]
        if "Thread" in thread and len(thread) > 40:
            thread = thread[:40]
        frames = [_short(f) for f in frames[1:]]
        total += count
        per_thread[thread] += count
        if frames:
            self_t[(thread, frames[-1])] += count
            for f in set(frames):
                incl[(thread, f)] += count
    if not total:
        return "(no samples)"
    out = [f"{total} samples (non-idle), by thread:"]
    for t, n in per_thread.most_common():
        out.append(f"  {100 * n / total:5.1f}%  {t}")
    out.append("top self time (% of all non-idle samples):")
    for (t, f), n in self_t.most_common(top):
        out.append(f"  {100 * n / total:5.1f}%  [{t[:18]}] {f}")
    out.append("top inclusive time:")
    for (t, f), n in incl.most_common(top + 10):
        out.append(f"  {100 * n / total:5.1f}%  [{t[:18]}] {f}")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def fmt(x: Any, digits: int = 2) -> str:
    if isinstance(x, float):
        if x != x:
            return "-"
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        return f"{x:.{digits}f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[fmt(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "  ".join(
        h.rjust(w) if i else h.ljust(w)
        for i, (h, w) in enumerate(zip(headers, widths, strict=True))
    )
    print(line)
    print("-" * len(line))
    for r in cells:
        print(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )


def write_json(
    path: Path, headers: Sequence[str], rows: Sequence[Sequence[Any]], **extra: Any
) -> None:
    """A printed table as JSON: one object per row keyed by the headers, plus ``extra`` fields."""
    table = [dict(zip(headers, r, strict=True)) for r in rows]
    data = {"code": code_version(), **extra, "rows": table}
    path.write_text(json.dumps(data, indent=1, default=str))


@contextlib.contextmanager
def workdir(keep: bool = False) -> Iterator[Path]:
    """A scratch directory for databases and server logs."""
    d = Path(tempfile.mkdtemp(prefix="mt-bench-"))
    try:
        yield d
    finally:
        if not keep:
            shutil.rmtree(d, ignore_errors=True)
