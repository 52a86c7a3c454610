"""scripts/render_emails.py: every variant written as sent, pictures by headless Chromium."""

from __future__ import annotations

import importlib.util
import shutil
import struct

import html5lib
import pytest

from tests.gunicorn import REPO


def load_script():
    path = REPO / "scripts" / "render_emails.py"
    spec = importlib.util.spec_from_file_location("render_emails", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_chromium_it_writes_every_variant_and_says_what_to_install(tmp_path, monkeypatch):
    script = load_script()
    monkeypatch.setattr(script.shutil, "which", lambda name: None)

    with pytest.raises(SystemExit) as stopped:
        script.main(["--out", str(tmp_path)])

    assert "apt-get install chromium" in str(stopped.value.code)
    names = {*script.VARIANTS, "staff-written"}
    assert {path.stem for path in tmp_path.glob("*.html")} == names
    for name in names:
        html5lib.HTMLParser(strict=True).parse((tmp_path / f"{name}.html").read_text())
        text = (tmp_path / f"{name}.txt").read_text()
        assert text.startswith("Subject: ") and "[Vorgang " in text.splitlines()[0]
        assert "\n-- \n" in text  # the footer, as sent
    one = (tmp_path / "one-patient.txt").read_text()
    assert "für diese Person:" in one and "Personen" not in one


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed")
def test_a_variant_becomes_a_picture_as_wide_as_a_phone(tmp_path):
    script = load_script()
    page = tmp_path / "one.html"
    page.write_text("<!DOCTYPE html><html><body><p>Guten Tag</p></body></html>")
    png = tmp_path / "one.png"

    script.screenshot(script.chromium(), page, png, 390, 1)

    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">I", header[16:20])[0] == 390  # IHDR width
