"""What a drill checked, and one PASS/FAIL line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Checks:
    title: str
    results: list[tuple[str, bool, str]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.results.append((name, bool(ok), detail))
        return bool(ok)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(ok for _, ok, _ in self.results)

    def failures(self) -> list[str]:
        return [f"{name}: {detail}" for name, ok, detail in self.results if not ok]

    def render(self) -> str:
        lines = [f"== {self.title}"]
        for key, value in self.figures.items():
            lines.append(f"   {key}: {value}")
        for name, ok, detail in self.results:
            lines.append(
                f"   [{'ok' if ok else 'FAILED'}] {name}" + (f" ({detail})" if detail else "")
            )
        lines.append(f"{'PASS' if self.passed else 'FAIL'}: {self.title}")
        return "\n".join(lines)
