"""docs/rules.md "Telephone hours": each rule of the telephone-hours structure, with the exact
error place."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from communication_service.api.errors import flatten_messages
from communication_service.schemas.availability import AvailabilitySchema

schema = AvailabilitySchema()


def errors_of(payload) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as raised:
        schema.load(payload)
    return flatten_messages(raised.value.messages)


def test_valid_structure_loads_unchanged():
    payload = {
        "monday": [{"start": "09:00", "end": "12:00"}, {"start": "14:00", "end": "16:30"}],
        "wednesday": [{"start": "10:00", "end": "14:00"}],
        "sunday": [],
    }
    assert schema.load(payload) == payload


def test_empty_object_means_no_telephone_hours():
    assert schema.load({}) == {}


def test_unknown_day_name():
    assert errors_of({"funday": []}) == {"funday": ["Unknown field."]}
    assert "Monday" in errors_of({"Monday": []})


def test_slot_needs_start_and_end():
    assert errors_of({"monday": [{"start": "09:00"}]}) == {
        "monday.0.end": ["Missing data for required field."]
    }


def test_slot_has_exactly_start_and_end():
    assert errors_of({"monday": [{"start": "09:00", "end": "10:00", "room": "2"}]}) == {
        "monday.0.room": ["Unknown field."]
    }


@pytest.mark.parametrize("bad", ["9:00", "24:00", "12:60", "12-00", "noon", "09:00:00", ""])
def test_times_must_be_valid_hh_mm(bad):
    errors = errors_of(
        {"tuesday": [{"start": "08:00", "end": "09:00"}, {"start": bad, "end": "23:00"}]}
    )
    assert list(errors) == ["tuesday.1.start"]
    assert "HH:MM" in errors["tuesday.1.start"][0]


def test_time_must_be_a_string():
    assert "friday.0.end" in errors_of({"friday": [{"start": "08:00", "end": 900}]})


def test_start_before_end():
    assert errors_of({"monday": [{"start": "12:00", "end": "12:00"}]}) == {
        "monday.0.end": ["Must be later than start."]
    }
    assert "monday.0.end" in errors_of({"monday": [{"start": "12:00", "end": "09:00"}]})


def test_slots_of_one_day_do_not_overlap():
    errors = errors_of(
        {"thursday": [{"start": "09:00", "end": "12:00"}, {"start": "11:30", "end": "13:00"}]}
    )
    assert list(errors) == ["thursday.1"]
    assert "Overlaps thursday.0" in errors["thursday.1"][0]


def test_touching_slots_do_not_overlap():
    payload = {"monday": [{"start": "14:00", "end": "15:00"}, {"start": "09:00", "end": "14:00"}]}
    assert schema.load(payload) == payload


def test_overlap_is_found_whatever_the_order():
    errors = errors_of(
        {"monday": [{"start": "14:00", "end": "16:00"}, {"start": "09:00", "end": "14:30"}]}
    )
    assert list(errors) == ["monday.0"]


def test_a_day_must_be_a_list_of_objects():
    assert "monday" in errors_of({"monday": {"start": "09:00", "end": "10:00"}})
    assert "monday.0" in errors_of({"monday": ["09:00-10:00"]}) or "monday.0._schema" in errors_of(
        {"monday": ["09:00-10:00"]}
    )
