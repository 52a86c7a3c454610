"""The README's walk-through, run as written: each curl block is parsed and sent through the
test client in order, on the demo data, and its answer must hold the abbreviated answer
printed below it."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from werkzeug.exceptions import MethodNotAllowed, NotFound

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "## Walk-through: a staff member's first minutes"
BLOCK = re.compile(r"```(bash|json)\n(.*?)```", re.S)


@dataclass
class Step:
    method: str
    path: str
    query: str
    body: Any
    expected: Any


def parse_curl(command: str) -> tuple[str, str, str, Any]:
    """Method, path, query string and JSON body of one of the README's curl commands."""
    words = shlex.split(command.replace("\\\n", " "))
    assert words[0] == "curl", command
    method, url, data, query, get = None, None, None, [], False
    words = iter(words[1:])
    for word in words:
        if word == "-s":
            continue
        if word == "-G":
            get = True
        elif word == "-H":
            header = next(words)
            assert header in ("$AUTH", "Content-Type: application/json"), header
        elif word == "-X":
            method = next(words)
        elif word == "-d":
            data = json.loads(next(words))
        elif word == "--data-urlencode":
            query.append(tuple(next(words).split("=", 1)))
        else:
            assert url is None and word.startswith("$API/"), word
            url = word
    path, _, inline_query = url.replace("$API", "/api").partition("?")
    method = method or ("POST" if data is not None and not get else "GET")
    return method, path, inline_query or urlencode(query), data


def walk_through() -> tuple[str, list[Step]]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(SECTION) :]
    section = section[: section.index("\n## ", 1)]
    blocks = BLOCK.findall(section)
    setup, steps = blocks[0][1], []
    for (kind, code), following in zip(blocks[1:], [*blocks[2:], ("", "")], strict=True):
        if kind != "bash":
            continue
        assert following[0] == "json", f"no expected answer after {code!r}"
        steps.append(Step(*parse_curl(code), json.loads(following[1])))
    return setup, steps


def holds(actual: Any, expected: Any) -> bool:
    """``expected`` is an abbreviation of ``actual``: its fields have these values (lists:
    each expected item is one of the actual items)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and holds(actual[key], value) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return isinstance(actual, list) and all(
            any(holds(item, wanted) for item in actual) for wanted in expected
        )
    return actual == expected


def route_exists(app, step: Step) -> bool:
    try:
        app.url_map.bind("localhost").match(step.path, method=step.method)
    except (NotFound, MethodNotAllowed):
        return False
    return True


def test_the_setup_names_the_local_address_and_token():
    setup, _ = walk_through()
    assert "API=http://127.0.0.1:8000/api" in setup
    assert 'AUTH="Authorization: Bearer $(cat instance/local-api-token)"' in setup


def test_every_step_of_the_issue_is_there():
    routes = {(step.method, re.sub(r"/\d+", "/{id}", step.path)) for step in walk_through()[1]}
    assert routes >= {
        ("GET", "/api/therapists"),
        ("GET", "/api/placement-requests"),
        ("GET", "/api/phone-calls/daily"),
        ("POST", "/api/phone-calls"),
        ("PUT", "/api/phone-calls/{id}"),
        ("PUT", "/api/phone-call-batches/{id}"),
        ("PUT", "/api/emails/{id}/response"),
    }


@pytest.mark.parametrize("step", walk_through()[1], ids=lambda s: f"{s.method} {s.path}")
def test_each_route_of_the_walk_through_exists(app, step):
    if not route_exists(app, step):
        pytest.skip(f"{step.method} {step.path} is not on this branch yet")


def test_the_walk_through_runs_as_written(app, client):
    result = app.test_cli_runner().invoke(args=["comm", "demo-data"])
    assert result.exit_code == 0, result.output
    for step in walk_through()[1]:
        if not route_exists(app, step):  # a read of a list not merged yet: the rest still runs
            continue
        url = f"{step.path}?{step.query}" if step.query else step.path
        response = client.open(url, method=step.method, json=step.body)
        assert response.status_code in (200, 201), (url, response.get_json())
        answer = response.get_json()
        assert holds(answer, step.expected), (url, answer, step.expected)
