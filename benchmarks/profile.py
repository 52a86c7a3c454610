"""Where a route's time goes: py-spy samples one gunicorn worker while wrk drives it.

    .venv/bin/python -m benchmarks.profile [--path "/api/therapists/{id}"] [--seconds 10]

Same set-up as ``benchmarks.run`` (private PostgreSQL, real migrations, the same bulk data
scaled by ``--scale``, the project's gunicorn settings) but with ONE worker, so all load
lands on the sampled process. Prints the share of CPU samples by package of the innermost
frame (self time, sums to 100 %) and the functions with the largest inclusive share.
Needs ptrace (root in a container is enough). ``--raw FILE`` keeps py-spy's collapsed
stacks (for speedscope or flamegraph.pl).
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from benchmarks.infra import EmbeddedDatabase, Gunicorn, Load, ensure_wrk, run_wrk
from benchmarks.run import set_up

FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^:)]*)(?::\d+)?\)$")
PACKAGES = (
    "communication_service",
    "benchmarks",
    "flask_restful",
    "flask_sqlalchemy",
    "flask",
    "werkzeug",
    "sqlalchemy",
    "psycopg2",
    "marshmallow",
    "gunicorn",
    "logging",
    "json",
    "http",
    "socket",
    "selectors",
)


def package_of(file: str) -> str:
    path = file.replace("\\", "/")
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    for name in PACKAGES:
        if f"/{name}/" in path or path.endswith(f"/{name}.py") or f"{name}/" in path[:40]:
            return name
    return "stdlib/other (" + Path(path).name + ")"


def analyse(raw: str, top: int = 25) -> str:
    self_by_package: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [FRAME.match(part) for part in stack.split(";")]
        frames = [f for f in frames if f]
        if not frames:
            continue
        self_by_package[package_of(frames[-1]["file"])] += count
        seen = set()
        for f in frames:
            key = f"{f['function']} [{package_of(f['file'])}]"
            if key not in seen:
                seen.add(key)
                inclusive[key] += count
    if not total:
        return "no samples"
    lines = [f"{total} CPU samples", "", "self time by package of the innermost frame:"]
    for name, count in self_by_package.most_common(15):
        lines.append(f"  {100 * count / total:5.1f} %  {name}")
    lines += ["", "inclusive time by function:"]
    for name, count in inclusive.most_common(top):
        lines.append(f"  {100 * count / total:5.1f} %  {name}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("--path", default="/api/therapists/{id}")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", default=None)
    parser.add_argument("--ids", default="1-1000", help="range of {id}, e.g. 1-1000")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--scale", type=float, default=0.1, help="data size factor")
    parser.add_argument("--app", default="wsgi:app", help="WSGI spec (ceiling apps too)")
    parser.add_argument("--raw", type=Path, default=None, help="keep the collapsed stacks")
    args = parser.parse_args(argv)

    wrk = ensure_wrk()
    if wrk is None:
        print("wrk is not installed", file=sys.stderr)
        return 2
    low, high = (int(x) for x in args.ids.split("-"))
    raw_path = args.raw or Path(tempfile.mkstemp(suffix=".txt")[1])
    with EmbeddedDatabase() as database:
        ctx = set_up(database, args.scale)  # the benchmark's data set, scaled
        env = {"DATABASE_URL": ctx.http_url, "WEB_CONCURRENCY": "1"}
        with Gunicorn(args.app, env=env) as server:
            (worker,) = server.worker_pids()
            load = Load(args.path, method=args.method, body=args.body, ids=(low, high))
            run_wrk(wrk, server.base_url, load, duration=2, connections=2)  # warm-up
            driver = threading.Thread(
                target=run_wrk,
                args=(wrk, server.base_url, load),
                kwargs={"duration": args.seconds + 2, "connections": 2},
            )
            driver.start()
            subprocess.run(
                [
                    str(Path(sys.executable).with_name("py-spy")),
                    "record",
                    "--pid",
                    str(worker),
                    "--duration",
                    str(int(args.seconds)),
                    "--rate",
                    "250",
                    "--format",
                    "raw",
                    "--output",
                    str(raw_path),
                    "--nonblocking",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            driver.join()
    print(f"{args.method} {args.path} ({args.app}), one gunicorn worker, {args.seconds:g} s")
    print(analyse(raw_path.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
