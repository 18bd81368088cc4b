"""The Prometheus text exposition format (version 0.0.4): histograms, and the text itself."""

from __future__ import annotations

from dataclasses import dataclass, field

#: upper bounds (seconds) of the duration histograms' buckets
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass
class Histogram:
    """A Prometheus histogram: cumulative bucket counts, sum and count."""

    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    total: float = 0.0
    count: int = 0

    def observe(self, seconds: float) -> None:
        self.total += seconds
        self.count += 1
        for index, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.buckets[index] += 1



class Exposition:
    """Builds the text format: ``# HELP`` and ``# TYPE`` once per metric, then its samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def metric(self, name: str, kind: str, help_text: str,
               samples: list[tuple[dict[str, str], float]]) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        self.lines += [f"{name}{_render(labels)} {_number(value)}" for labels, value in samples]

    def histogram(self, name: str, help_text: str,
                  samples: list[tuple[dict[str, str], Histogram]]) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
        for labels, hist in samples:
            for bound, count in zip(BUCKETS, hist.buckets):
                self.lines.append(f"{name}_bucket{_render({**labels, 'le': _number(bound)})} {count}")
            self.lines.append(f"{name}_bucket{_render({**labels, 'le': '+Inf'})} {hist.count}")
            self.lines.append(f"{name}_sum{_render(labels)} {_number(hist.total)}")
            self.lines.append(f"{name}_count{_render(labels)} {hist.count}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _render(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _escape(value: str) -> str:
    """A label value as the text format wants it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))

