"""What drill clients do to the service, and how each answer is judged.

Operations are small picklable callables (the clients run in spawned processes). A new kind
of traffic (bookings, call status updates once phone calls exist) is one more class here and
one more ``WeightedOperation`` in the drill's list.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks.drills.client import Client, Record, is_error_body

# Telephone hours a write picks from by its sequence number, so every stored row tells which
# write it came from in all three fields (a half-applied write would not match).
AVAILABILITY_VARIANTS: tuple[dict[str, Any], ...] = (
    {"monday": [{"start": "09:00", "end": "12:00"}]},
    {
        "tuesday": [{"start": "10:00", "end": "11:00"}],
        "friday": [{"start": "08:00", "end": "09:30"}],
    },
    {},
)
NOTES_PREFIX = "drill write "


def availability_write(index: int, seq: int) -> dict[str, Any]:
    return {
        "telefonische_erreichbarkeit": AVAILABILITY_VARIANTS[seq % len(AVAILABILITY_VARIANTS)],
        "potentially_available": seq % 2 == 1,
        "potentially_available_notes": f"{NOTES_PREFIX}{index}:{seq}",
    }


def parse_write_key(notes: str | None) -> tuple[int, int] | None:
    if not notes or not notes.startswith(NOTES_PREFIX):
        return None
    index, seq = notes[len(NOTES_PREFIX) :].split(":")
    return int(index), int(seq)


def row_matches_its_write(notes: str | None, available: bool | None, hours: Any) -> bool:
    """A stored row written by a drill: do all three fields come from the same write?"""
    key = parse_write_key(notes)
    if key is None:
        return False
    expected = availability_write(*key)
    return (
        available == expected["potentially_available"]
        and hours == expected["telefonische_erreichbarkeit"]
    )


def judged(status: int, data: Any, ok_shape: bool) -> bool:
    """Whether the body has the shape its status promises."""
    if status == 0:
        return False
    if status == 503:
        return is_error_body(data, "database_unavailable")
    if status >= 400:
        return is_error_body(data)
    return ok_shape


@dataclass(frozen=True)
class ReadTherapist:
    therapists: int  # ids 1..therapists exist

    def __call__(self, client: Client, rng: random.Random, index: int, seq: int) -> Record:
        therapist_id = rng.randint(1, self.therapists)
        started = time.time()
        status, data, ms = client.request("GET", f"/api/therapists/{therapist_id}")
        ok = isinstance(data, dict) and data.get("id") == therapist_id
        return Record("GET /api/therapists/{id}", started, ms, status, judged(status, data, ok))


@dataclass(frozen=True)
class UpdateAvailability:
    """Each client process writes only its own therapist (``first_id + index``), so the order
    of its acknowledged writes is known."""

    first_id: int

    def __call__(self, client: Client, rng: random.Random, index: int, seq: int) -> Record:
        therapist_id = self.first_id + index
        write = availability_write(index, seq)
        started = time.time()
        status, data, ms = client.request(
            "PUT", f"/api/therapists/{therapist_id}/availability", write
        )
        ok = (
            isinstance(data, dict)
            and data.get("potentially_available_notes") == write["potentially_available_notes"]
        )
        return Record(
            "PUT /api/therapists/{id}/availability",
            started,
            ms,
            status,
            judged(status, data, ok),
            key=f"{index}:{seq}",
        )


@dataclass(frozen=True)
class Health:
    def __call__(self, client: Client, rng: random.Random, index: int, seq: int) -> Record:
        started = time.time()
        status, data, ms = client.request("GET", "/health", auth=False)
        if status == 200:
            ok = data == {"status": "ok", "database": "ok"}
        elif status == 503:
            ok = isinstance(data, dict) and data.get("database") == "unavailable"
        else:
            ok = False
        return Record("GET /health", started, ms, status, ok)


@dataclass
class PhoneCalls:
    """Bookings, status changes and the call sheet (``/api/phone-calls``).

    One instance is shared by its operations inside a client process (pickling keeps shared
    references), so a status change ends a call this client booked. 409 answers (no free
    slot, call already ended) are legitimate; only their JSON shape is judged.
    """

    therapists: int
    booked: list[int] = field(default_factory=list)

    def book(self, client: Client, rng: random.Random, index: int, seq: int) -> Record:
        started = time.time()
        body = {"therapist_id": rng.randint(1, self.therapists)}
        status, data, ms = client.request("POST", "/api/phone-calls", body)
        ok = isinstance(data, dict) and isinstance(data.get("id"), int)
        if status == 201 and ok:
            self.booked.append(data["id"])
        return Record("POST /api/phone-calls", started, ms, status, judged(status, data, ok))

    def end(self, client: Client, rng: random.Random, index: int, seq: int) -> Record:
        if not self.booked:
            return self.book(client, rng, index, seq)
        call_id = self.booked.pop(rng.randrange(len(self.booked)))
        new_status = rng.choice(("completed", "failed", "canceled"))
        started = time.time()
        status, data, ms = client.request(
            "PUT", f"/api/phone-calls/{call_id}", {"status": new_status}
        )
        ok = isinstance(data, dict)
        return Record("PUT /api/phone-calls/{id}", started, ms, status, judged(status, data, ok))

    def sheet(self, client: Client, rng: random.Random, index: int, seq: int) -> Record:
        started = time.time()
        status, data, ms = client.request("GET", "/api/phone-calls/daily")
        ok = isinstance(data, dict) and isinstance(data.get("data"), list)
        return Record("GET /api/phone-calls/daily", started, ms, status, judged(status, data, ok))
