"""A local SMTP server for development: every message lands as an ``.eml`` file, none is sent on.

    python scripts/mailcatcher.py [--host 127.0.0.1] [--port 8025] [--dir instance/mail]

``scripts/run-local`` starts it next to gunicorn (same process group) and points ``SMTP_*`` at
it. It prints one line per message (recipients, subject, file) and stops with its parent
process, whichever way that ends (Ctrl-C, SIGTERM, a failed start). Needs ``aiosmtpd``
(requirements-local.txt); clear text on the loopback only.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import sys
import time
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class EmlWriter:
    """aiosmtpd handler: writes each accepted message to ``directory`` and says so."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._numbers = itertools.count(1)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or envelope.content
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.directory / f"{stamp}-{os.getpid()}-{next(self._numbers):04d}.eml"
        partial = path.with_suffix(".part")
        partial.write_bytes(content)
        partial.replace(path)  # a reader never sees half a message
        headers = BytesHeaderParser(policy=default_policy).parsebytes(content)
        print(
            f"mail: to {', '.join(envelope.rcpt_tos)} | {headers.get('Subject', '')} -> {path}",
            flush=True,
        )
        return "250 Message accepted for delivery"


def serve(host: str, port: int, directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    parent = os.getppid()
    controller = Controller(EmlWriter(directory), hostname=host, port=port)
    try:
        controller.start()
    except Exception as error:  # the port is taken, the address is not local...
        print(f"mail catcher: cannot listen on {host}:{port}: {error}", file=sys.stderr)
        return 1
    print(f"mail catcher: SMTP on {host}:{port}, messages go to {directory}/", flush=True)

    def stop(_signum: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        # Stop with the parent (run-local's shell, replaced by gunicorn): when it is gone this
        # process is handed to another parent.
        while os.getppid() == parent:
            time.sleep(0.3)
    finally:
        controller.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", type=Path, default=Path("instance/mail"))
    args = parser.parse_args(argv)
    return serve(args.host, args.port, args.dir)


if __name__ == "__main__":
    sys.exit(main())
