"""Running a job twice at the same moment, as two containers would."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import TypeVar

from flask import Flask

from communication_service.context import Context
from communication_service.extensions import db

T = TypeVar("T")


def at_once(app: Flask, ctx: Context, job: Callable[[Context], T], times: int = 2) -> list[T]:
    """``job`` in ``times`` threads released together, each with its own app context and
    session (its own connection and transaction); their results, in the order they finished.
    An error in any of them is raised here."""
    barrier = threading.Barrier(times)
    results: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with app.app_context():
                barrier.wait()
                results.append(job(dataclasses.replace(ctx, session=db.session)))
                db.session.remove()
        except Exception as error:  # pragma: no cover - raised below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
