"""What a therapist reads, word for word: the batching email for one and for several patients,
salutations, counts, the optional facts, the sender's footer, the HTML part (valid, readable on
a phone, saying what the text part says), and header values that cannot be headers."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, policy

import html5lib
import pytest

from communication_service.config import Settings
from communication_service.services.email_content import (
    PatientLine,
    UnsendableAddress,
    UnsendableEmail,
    batch_subject,
    build_message,
    count_word,
    footer,
    greeting,
    insurance_status,
    message_bytes,
    outgoing_bodies,
    postcode_area,
    preferred_times,
    render_batch_email,
    salutation_titles,
)

SETTINGS = Settings(
    email_sender="vermittlung@beispiel-verein.de",
    email_reply_to="team@beispiel-verein.de",
    organisation_name="Beispiel-Verein Psychotherapie e.V.",
    organisation_address="Lindenstraße 12, 10969 Berlin",
    organisation_phone="030 1234567",
    contact_person="Maria Beispiel",
    legal_notice="Amtsgericht Charlottenburg VR 12345 B, Vorstand: Maria Beispiel",
    imprint_url="https://beispiel-verein.de/impressum",
)
FOOTER = (
    "-- \n"
    "Beispiel-Verein Psychotherapie e.V.\n"
    "Lindenstraße 12, 10969 Berlin\n"
    "Telefon: 030 1234567\n"
    "Ansprechperson: Maria Beispiel\n"
    "E-Mail: team@beispiel-verein.de\n"
    "Amtsgericht Charlottenburg VR 12345 B, Vorstand: Maria Beispiel\n"
    "Impressum: https://beispiel-verein.de/impressum\n"
)
SIGNATURE = "Mit freundlichen Grüßen\nMaria Beispiel\nBeispiel-Verein Psychotherapie e.V.\n"
EVA = PatientLine.of(17, "Eva", "M", 45)
TOM = PatientLine.of(18, "Tom", "Ö", 26)
ALL_FACTS = PatientLine.of(
    19,
    "Ida",
    "K",
    31,
    diagnose="F33.1",
    krankenkasse="Techniker Krankenkasse",
    plz="10115",
    group_therapy=True,
    availability={"monday": [{"start": "08:00", "end": "12:00"}], "thursday": ["17-19"]},
)


def render(patients, anrede="Frau", titel="Dr.", vorname="Anna", nachname="Schulz"):
    return render_batch_email(
        SETTINGS, anrede=anrede, titel=titel, vorname=vorname, nachname=nachname,
        patients=patients,
    )  # fmt: skip


# --- the wording, word for word ------------------------------------------------------------------


def test_one_patient_reads_as_one_person_without_order_or_plural():
    email = render([EVA])

    assert email.subject == "Anfrage: Psychotherapieplatz für eine Person"
    assert email.body_text == (
        "Sehr geehrte Frau Dr. Schulz,\n"
        "\n"
        "wir suchen einen Psychotherapieplatz für diese Person:\n"
        "\n"
        "Eva M., 45 Jahre (Anfrage Nr. 17)\n"
        "\n"
        "Können Sie dieser Person einen Therapieplatz oder ein Erstgespräch anbieten? Eine kurze "
        "Antwort auf diese E-Mail genügt. Wenn Sie derzeit keinen Platz frei haben, freuen wir "
        "uns ebenso über eine kurze Rückmeldung.\n"
        "\n" + SIGNATURE
    )
    for body in (email.body_text, email.body_html):
        assert "Wartezeit" not in body and "Personen" not in body and "einer dieser" not in body


def test_several_patients_read_as_a_ranked_list_with_the_count_in_words():
    email = render([TOM, EVA], anrede="Herr", titel="Dipl.-Psych.", vorname="Bernd")

    assert email.subject == "Anfrage: Psychotherapieplätze für zwei Personen"
    assert email.body_text == (
        "Sehr geehrter Herr Schulz,\n"
        "\n"
        "wir suchen Psychotherapieplätze für zwei Personen. Wer am längsten wartet, steht oben:\n"
        "\n"
        "1. Tom Ö., 26 Jahre (Anfrage Nr. 18)\n"
        "2. Eva M., 45 Jahre (Anfrage Nr. 17)\n"
        "\n"
        "Können Sie einer dieser Personen einen Therapieplatz oder ein Erstgespräch anbieten? "
        "Eine kurze Antwort auf diese E-Mail genügt, gerne mit der Anfrage-Nummer der jeweiligen "
        "Person. Wenn Sie derzeit keine Plätze frei haben, freuen wir uns ebenso über eine kurze "
        "Rückmeldung.\n"
        "\n" + SIGNATURE
    )


@pytest.mark.parametrize(
    ("count", "word"),
    [(2, "zwei"), (3, "drei"), (4, "vier"), (5, "fünf"), (6, "sechs"), (7, "sieben"),
     (8, "acht"), (9, "neun"), (10, "zehn"), (11, "elf"), (12, "zwölf"), (13, "13"),
     (40, "40")],
)  # fmt: skip
def test_every_count_up_to_twelve_is_a_word(count, word):
    patients = [PatientLine.of(100 + i, f"P{i}", "X", 30) for i in range(count)]

    email = render(patients)

    assert count_word(count) == word
    assert email.subject == f"Anfrage: Psychotherapieplätze für {word} Personen"
    intro = (
        f"wir suchen Psychotherapieplätze für {word} Personen. Wer am längsten wartet, steht oben:"
    )
    assert f"\n\n{intro}\n\n" in email.body_text
    assert f">{intro}</p>" in email.body_html
    assert f"\n{count}. P{count - 1} X., 30 Jahre (Anfrage Nr. {100 + count - 1})\n" in (
        email.body_text
    )


def test_one_is_eine_person():
    assert (count_word(1), batch_subject(1)) == (
        "eine",
        "Anfrage: Psychotherapieplatz für eine Person",
    )


@pytest.mark.parametrize(
    ("anrede", "titel", "expected"),
    [
        ("Frau", "Dr.", "Sehr geehrte Frau Dr. Schulz,"),
        ("Frau", "Dipl.-Psych.", "Sehr geehrte Frau Schulz,"),
        ("Frau", "Dipl.-Psych. Dr. rer. nat.", "Sehr geehrte Frau Dr. Schulz,"),
        ("Herr", "Dr. med.", "Sehr geehrter Herr Dr. Schulz,"),
        ("Herr", "Prof. Dr.", "Sehr geehrter Herr Prof. Dr. Schulz,"),
        ("Herr", "Prof.Dr.med.", "Sehr geehrter Herr Prof. Dr. Schulz,"),
        ("Herr", "PD Dr. phil. habil.", "Sehr geehrter Herr Dr. Schulz,"),
        ("Herr", "Dr. Dr.", "Sehr geehrter Herr Dr. Dr. Schulz,"),
        ("Frau", "M.Sc. Psych.", "Sehr geehrte Frau Schulz,"),
        ("frau ", None, "Sehr geehrte Frau Schulz,"),
        (None, None, "Guten Tag Anna Schulz,"),
        ("", "Dipl.-Psych.", "Guten Tag Anna Schulz,"),
        (None, "Dr.", "Guten Tag Dr. Anna Schulz,"),
        ("Divers", "Dipl.-Psych. Prof.", "Guten Tag Prof. Anna Schulz,"),
    ],
)
def test_salutation_keeps_only_dr_and_prof_and_is_neutral_without_anrede(anrede, titel, expected):
    assert greeting(anrede, titel, "Anna", "Schulz") == expected
    assert render([EVA], anrede=anrede, titel=titel).body_text.startswith(f"{expected}\n\n")


def test_a_neutral_greeting_without_first_name():
    assert greeting(None, None, None, "Schulz") == "Guten Tag Schulz,"
    assert salutation_titles("Dipl.-Psych.") == ""


def test_every_optional_fact_when_the_settings_ask_for_it():
    email = render([ALL_FACTS])

    assert (
        "\n\nIda K., 31 Jahre, Diagnose F33.1, gesetzlich versichert, PLZ-Bereich 101xx, "
        "offen für Gruppentherapie (Anfrage Nr. 19)\n"
        "bevorzugte Zeiten: Mo 08:00\u201312:00, Do 17:00\u201319:00\n\n"
    ) in email.body_text
    many = render([ALL_FACTS, EVA]).body_text
    assert (
        "\n1. Ida K., 31 Jahre, Diagnose F33.1, gesetzlich versichert, PLZ-Bereich 101xx, "
        "offen für Gruppentherapie (Anfrage Nr. 19)\n"
        "   bevorzugte Zeiten: Mo 08:00\u201312:00, Do 17:00\u201319:00\n"
        "2. Eva M., 45 Jahre (Anfrage Nr. 17)\n"
    ) in many


def test_without_optional_facts_only_name_age_and_reference():
    bare = PatientLine.of(20, "Jo", None, None, krankenkasse="Irgendwas", plz="1011")
    assert bare == PatientLine("Jo", (), 20, None)
    assert "\n\nJo (Anfrage Nr. 20)\n\n" in render([bare]).body_text
    assert PatientLine.of(21, None, "K", 50, group_therapy=False).facts == (
        "50 Jahre",
        "nicht offen für Gruppentherapie",
    )


@pytest.mark.parametrize(
    ("krankenkasse", "status"),
    [
        ("AOK Nordost", "gesetzlich versichert"),
        ("Techniker Krankenkasse (TK)", "gesetzlich versichert"),
        ("BARMER", "gesetzlich versichert"),
        ("DAK-Gesundheit", "gesetzlich versichert"),
        ("Audi BKK", "gesetzlich versichert"),
        ("IKK classic", "gesetzlich versichert"),
        ("Knappschaft", "gesetzlich versichert"),
        ("Mobil Krankenkasse", "gesetzlich versichert"),
        ("R+V BKK", "gesetzlich versichert"),
        ("gesetzlich", "gesetzlich versichert"),
        ("Debeka", "privat versichert"),
        ("Allianz Private Krankenversicherung", "privat versichert"),
        ("DKV", "privat versichert"),
        ("privat", "privat versichert"),
        ("PKV + Beihilfe", "privat versichert"),
        ("Bayerische Beamtenkrankenkasse", "privat versichert"),
        ("Signal Iduna", "privat versichert"),
        ("Selbstzahler", None),
        ("", None),
        (None, None),
    ],
)
def test_statutory_or_private_from_the_insurers_name(krankenkasse, status):
    assert insurance_status(krankenkasse) == status


@pytest.mark.parametrize(
    ("plz", "area"),
    [("10115", "101xx"), (" 80331 ", "803xx"), ("1011", None), ("A-1010", None), (None, None)],
)
def test_the_postcode_area_is_three_digits(plz, area):
    assert postcode_area(plz) == area


def test_preferred_times_from_the_platforms_shapes_and_nothing_else():
    assert (
        preferred_times(
            {
                "friday": [{"start": "9:30", "end": "11:00"}],
                "montag": ["8 - 10 Uhr", "18:00\u201320:00"],
                "tuesday": ["nur nach Absprache mit meiner Arbeitgeberin"],  # free text: left out
                "wednesday": [{"start": "x"}],
                "holiday": [{"start": "09:00", "end": "10:00"}],
            }
        )
        == "Mo 08:00\u201310:00 und 18:00\u201320:00, Fr 09:30\u201311:00"
    )
    assert preferred_times({}) is None
    assert preferred_times(None) is None
    assert preferred_times(["monday"]) is None


# --- the footer, and the HTML part -----------------------------------------------------------


def test_the_footer_names_organisation_address_phone_contact_and_legal_line():
    text, html = footer(SETTINGS.sender)

    assert text == FOOTER
    assert '<a href="tel:0301234567"' in html
    assert '<a href="mailto:team@beispiel-verein.de"' in html
    assert "Demo" not in text + html


def test_demo_values_are_a_full_address_and_say_which_settings_are_missing():
    demo = Settings(organisation_name="Echter Verein e.V.")
    text, html = footer(demo.sender)

    assert text.startswith("-- \nEchter Verein e.V.\nMusterstraße 1, 10115 Berlin\n")
    last = text.splitlines()[-1]
    assert last.startswith("Demo-Angaben, nicht für echte Empfänger (nicht eingestellt: ")
    assert "EMAIL_SENDER" in last and "ORGANISATION_ADDRESS" in last
    assert "ORGANISATION_NAME" not in last
    assert last in html


def row(**values):
    return {
        "id": 1234,
        "subject": "Anfrage: Psychotherapieplatz für eine Person",
        "body_text": "Text\n",
        "body_html": None,
        "recipient_email": "schulz@example.org",
        "recipient_name": "Dipl.-Psych. Anna Schulz",
        "sender_email": None,
        "sender_name": None,
        "message_id": "<abc-1@beispiel-verein.de>",
        **values,
    }


def sent(**values):
    """The message as it would leave, parsed back the way a mail program reads it."""
    message = build_message(row(**values), SETTINGS, datetime(2026, 12, 1, 8, tzinfo=UTC))
    raw = message_bytes(message)
    return raw, message_from_bytes(raw, policy=policy.default)


def visible_text(html: str) -> list[str]:
    """The words a reader sees in the body (html5lib's tree), list numbers not counted."""
    document = html5lib.parse(html, namespaceHTMLElements=False)
    return " ".join(document.find("body").itertext()).split()


def words_of_text_part(text: str) -> list[str]:
    lines = [re.sub(r"^\d+\. ", "", line.strip()) for line in text.splitlines()]
    return " ".join(line for line in lines if line != "--").split()


VARIANTS = {
    "one": [EVA],
    "many": [TOM, EVA, ALL_FACTS],
    "twelve": [PatientLine.of(100 + i, f"P{i}", "X", 30) for i in range(12)],
    "all-facts": [ALL_FACTS],
}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("anrede", ["Frau", None])
def test_the_html_part_is_valid_fits_a_phone_and_says_what_the_text_says(variant, anrede):
    email = render(VARIANTS[variant], anrede=anrede, titel="Dipl.-Psych. Dr.")
    _, message = sent(subject=email.subject, body_text=email.body_text, body_html=email.body_html)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()

    parser = html5lib.HTMLParser(strict=True)
    parser.parse(html)  # raises on the first parse error
    assert parser.errors == []
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "max-width: 600px" in html and "<table" not in html  # one column, no layout table
    assert visible_text(html) == words_of_text_part(text)
    assert text.rstrip("\r\n").endswith(FOOTER.rstrip("\n").replace("\n", "\r\n"))


def test_a_staff_fragment_goes_into_the_same_document_with_the_footer():
    text, html = outgoing_bodies("Rückfrage", "Hallo\n", "<p>Hallo</p>", SETTINGS.sender)

    assert text == "Hallo\n\n" + FOOTER
    html5lib.HTMLParser(strict=True).parse(html)
    assert "<title>Rückfrage</title>" in html and 'name="viewport"' in html
    assert visible_text(html) == words_of_text_part(text)
    full = "<!DOCTYPE html><html><body><p>Hallo</p></BODY></html>"
    assert outgoing_bodies("x", "Hallo", full, SETTINGS.sender)[1] == (
        f"<!DOCTYPE html><html><body><p>Hallo</p>{footer(SETTINGS.sender)[1]}</BODY></html>"
    )


# --- headers ---------------------------------------------------------------------------------


def test_from_reply_to_and_the_reference_in_the_subject():
    raw, message = sent()

    assert message["From"].addresses[0].display_name == "Beispiel-Verein Psychotherapie e.V."
    assert message["From"].addresses[0].addr_spec == "vermittlung@beispiel-verein.de"
    assert message["Reply-To"].addresses[0].addr_spec == "team@beispiel-verein.de"
    assert message["To"].addresses[0].display_name == "Dipl.-Psych. Anna Schulz"
    assert message["Subject"] == "Anfrage: Psychotherapieplatz für eine Person [Vorgang 1234]"
    assert message["Message-ID"] == "<abc-1@beispiel-verein.de>"
    assert all(len(line) <= 78 for line in raw.split(b"\r\n\r\n")[0].split(b"\r\n"))
    # A reply keeps it: a mail program only puts "AW: " or "Re: " in front.
    assert re.search(r"\[Vorgang (\d+)\]", f"AW: {message['Subject']}").group(1) == "1234"
    _, again = sent(subject="Rückfrage [Vorgang 1234]")
    assert again["Subject"] == "Rückfrage [Vorgang 1234]"  # never twice


BREAKS = ["\r\n", "\n", "\r", "\nBcc: victim@example.org"]


@pytest.mark.parametrize("brk", BREAKS)
@pytest.mark.parametrize(
    "field", ["recipient_name", "sender_name", "subject", "recipient_email", "sender_email"]
)
def test_a_line_break_in_any_header_value_is_refused_naming_only_the_field(field, brk):
    value = {"recipient_email": "a@example.org", "sender_email": "b@example.org"}.get(
        field, "Anna Geheim"
    )
    with pytest.raises(UnsendableEmail) as refused:
        sent(**{field: value + brk + "X-Injected: 1"})
    assert str(refused.value) == f"{field} contains a line break"
    assert "Geheim" not in str(refused.value) and "example.org" not in str(refused.value)


NOT_AN_ADDRESS = "recipient_email is not a plain ASCII address (local@domain)"
NOT_A_MESSAGE_ID = "message_id is not a valid Message-ID (<unique@domain>)"


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"recipient_name": "Anna\x00Schulz"}, "recipient_name contains a control character"),
        ({"recipient_email": "müller@example.org"}, NOT_AN_ADDRESS),
        ({"recipient_email": "a@example.org, b@example.org"}, NOT_AN_ADDRESS),
        ({"recipient_email": "kein-at"}, NOT_AN_ADDRESS),
        ({"message_id": "<a b@x>"}, NOT_A_MESSAGE_ID),
        ({"message_id": "abc@x"}, NOT_A_MESSAGE_ID),
        ({"message_id": None}, NOT_A_MESSAGE_ID),
    ],
)
def test_other_values_that_cannot_be_headers_are_refused(values, reason):
    with pytest.raises(UnsendableEmail) as refused:
        sent(**values)
    assert str(refused.value) == reason


def test_an_unsendable_address_is_also_the_unicode_error_send_emails_catches():
    with pytest.raises(UnicodeError) as refused:
        sent(recipient_email="müller@example.org")
    assert isinstance(refused.value, UnsendableAddress)
