"""Where a route's time goes: py-spy samples one gunicorn worker while wrk drives it.

    .venv/bin/python -m benchmarks.profile [--path "/api/therapists/{id}"] [--seconds 10]

The set-up of ``benchmarks.run`` (scaled by ``--scale``) with ONE worker, so all load lands
on the sampled process. Prints the share of CPU samples by package of the innermost frame
(self time) and the functions with the largest inclusive share; ``--raw FILE`` keeps
py-spy's collapsed stacks (for speedscope or flamegraph.pl). Needs ptrace (root in a
container is enough).
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

from benchmarks.harness import ROOT, Database, Gunicorn, Load, ensure_wrk, run_wrk
from benchmarks.run import Variant, set_up

FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^:)]*)(?::\d+)?\)$")


def package_of(file: str) -> str:
    """py-spy names files relative to their sys.path entry: the first part is the package."""
    file = file.split("site-packages/", 1)[-1]
    for name in ("communication_service", "benchmarks"):
        if f"{name}/" in file:
            return name
    return "stdlib/other" if file.startswith("/") else file.split("/")[0].removesuffix(".py")


def analyse(raw: str, top: int = 25) -> str:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [m for m in map(FRAME.match, stack.split(";")) if m] if count.isdigit() else []
        if frames:
            own[package_of(frames[-1]["file"])] += int(count)
            for key in {f"{f['function']} [{package_of(f['file'])}]" for f in frames}:
                inclusive[key] += int(count)
    total = sum(own.values()) or 1
    lines = [f"{total} CPU samples", "self time by package of the innermost frame:"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in own.most_common(15)]
    lines.append("inclusive time by function:")
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in inclusive.most_common(top)]
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
        sys.exit("wrk is not installed")
    raw = args.raw or Path(tempfile.mkstemp(suffix=".txt")[1])
    ids = tuple(int(x) for x in args.ids.split("-"))
    load = Load(args.path, args.method, args.body, ids)
    with Database() as database:
        variant = Variant("profile", ROOT)
        set_up(database, [variant], args.scale)
        env = {"DATABASE_URL": variant.http_url, "WEB_CONCURRENCY": "1"}
        with Gunicorn(args.app, env) as server:
            (worker,) = server.worker_pids()
            run_wrk(wrk, server.base_url, load, duration=2, connections=2)  # warm-up
            drive = {"duration": args.seconds + 2, "connections": 2}
            target = (wrk, server.base_url, load)
            driver = threading.Thread(target=run_wrk, args=target, kwargs=drive)
            driver.start()
            py_spy = [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(worker)]
            options = ["--duration", str(int(args.seconds)), "--rate", "250", "--nonblocking"]
            options += ["--format", "raw", "--output", str(raw)]
            subprocess.run([*py_spy, *options], check=True, capture_output=True)
            driver.join()
    print(f"{args.method} {args.path} ({args.app}), one gunicorn worker, {args.seconds:g} s")
    print(analyse(raw.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
