"""Every variant of the email a therapist reads, as PNG pictures for review.

    .venv/bin/python scripts/render_emails.py [--out instance/email-previews]

Renders each variant (one patient, several, twelve, no anrede, titles that are left out,
with and without the optional facts, an email written by staff) exactly as ``send-emails``
sends it (the sender's footer from the settings in the environment: demo values when they are
not set), writes its text and HTML parts, and takes a screenshot of the HTML at 800 px and at
390 px (a phone) with headless Chromium (Debian's ``chromium`` package). Nothing is sent and
no database is needed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from communication_service.config import ConfigError, Settings  # noqa: E402
from communication_service.services.email_content import (  # noqa: E402
    PatientLine,
    outgoing_bodies,
    render_batch_email,
    subject_with_reference,
)

WIDTHS = (800, 390)
TIMES = {"monday": [{"start": "08:00", "end": "12:00"}], "thursday": ["17-19"]}


def patients(count: int, *, facts: bool) -> list[PatientLine]:
    names = ["Eva", "Tom", "Ida", "Jonas", "Mira", "Ali", "Lena", "Paul", "Sara", "Ben", "Zoe",
             "Noah"]  # fmt: skip
    extra = (
        {"krankenkasse": "AOK Nordost", "plz": "10115", "group_therapy": True,
         "availability": TIMES, "diagnose": "F33.1"}
        if facts
        else {}
    )  # fmt: skip
    return [
        PatientLine.of(1700 + i, names[i % len(names)], "MÖKS"[i % 4], 24 + 3 * i, **extra)
        for i in range(count)
    ]


# name → (therapist: anrede, titel, vorname, nachname; patients)
VARIANTS = {
    "one-patient": (("Frau", "Dr.", "Anna", "Schulz"), patients(1, facts=False)),
    "three-patients": (("Herr", "Prof. Dr. med.", "Bernd", "Weber"), patients(3, facts=False)),
    "twelve-patients": (("Frau", "Dr.", "Anna", "Schulz"), patients(12, facts=False)),
    "no-anrede": ((None, None, "Kim", "Yilmaz"), patients(2, facts=False)),
    "titles-left-out": (("Frau", "Dipl.-Psych. M.Sc.", "Jana", "Wolf"), patients(2, facts=False)),
    "one-patient-all-facts": (("Herr", "Dr.", "Ole", "Hansen"), patients(1, facts=True)),
    "three-patients-all-facts": (("Frau", None, "Rita", "Lang"), patients(3, facts=True)),
}
STAFF_HTML = (
    "<p>Guten Tag Frau Dr. Schulz,</p><p>vielen Dank für Ihre Antwort. Könnten Sie uns noch "
    "sagen, ab wann der Platz frei wird?</p><p>Mit freundlichen Grüßen<br>Erika Mustermann</p>"
)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        sys.exit(
            "render_emails: headless Chromium is not installed: install Debian's package "
            "(apt-get install chromium) and run again; the HTML files are written anyway"
        )
    return found


def screenshot(browser: str, html: Path, png: Path, width: int, patient_count: int) -> None:
    """A window tall enough for the whole email at this width (the blank below is harmless)."""
    per_patient = 60 if width >= 600 else 110
    height = 900 + per_patient * patient_count + (500 if width < 600 else 0)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--no-first-run", f"--user-data-dir={profile}", f"--window-size={width},{height}",
             f"--screenshot={png}", html.as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "instance" / "email-previews")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env().replace(
            email_include_insurance="true", email_include_diagnosis="false"
        )
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 4
    args.out.mkdir(parents=True, exist_ok=True)
    emails: dict[str, tuple[str, str, str, int]] = {}
    for number, (name, ((anrede, titel, vorname, nachname), lines)) in enumerate(
        VARIANTS.items(), start=1
    ):
        rendered = render_batch_email(
            settings, anrede=anrede, titel=titel, vorname=vorname, nachname=nachname,
            patients=lines,
        )  # fmt: skip
        text, html = outgoing_bodies(
            rendered.subject, rendered.body_text, rendered.body_html, settings.sender
        )
        subject = subject_with_reference(rendered.subject, 4200 + number)
        emails[name] = (subject, text, html or "", len(lines))
    staff_subject = subject_with_reference("Rückfrage zu Ihrer Antwort", 4299)
    text, html = outgoing_bodies(staff_subject, "(Textteil)", STAFF_HTML, settings.sender)
    emails["staff-written"] = (staff_subject, text, html or "", 1)

    for name, (subject, text, html, _) in emails.items():
        (args.out / f"{name}.txt").write_text(f"Subject: {subject}\n\n{text}", encoding="utf-8")
        (args.out / f"{name}.html").write_text(html, encoding="utf-8")
    browser = chromium()
    for name, (_, _, _, count) in emails.items():
        for width in WIDTHS:
            png = args.out / f"{name}-{width}px.png"
            screenshot(browser, args.out / f"{name}.html", png, width, count)
            print(png.relative_to(ROOT) if png.is_relative_to(ROOT) else png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
