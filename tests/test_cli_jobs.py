"""Progress output of the jobs: a bar on a terminal, nothing in logs and cron mails."""

from __future__ import annotations

import io
import sys

from communication_service.cli import TerminalProgress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal(monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    progress = TerminalProgress("rendering emails")
    for done in range(1, 4):
        progress(done, 3)
    progress.close()
    assert "rendering emails" in terminal.getvalue()

    piped = io.StringIO()
    monkeypatch.setattr(sys, "stdout", piped)
    progress = TerminalProgress("rendering emails")
    progress(1, 3)
    progress.close()
    assert piped.getvalue() == ""
