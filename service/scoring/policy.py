"""The routing policy: threshold source, priority bands and named rules, read from a TOML file.

Rules send a ticket to a human whatever the model says (a legal threat, a bereavement, a third
contact). They are regular expressions in English and Dutch that ops can read and change without
retraining; a rule that fires is named in the ticket's reasons. A policy file that does not parse
or validate stops start-up with the line at fault.

Patterns run on RE2, not Python's backtracking ``re``: every rule is matched in one linear-time
pass (an ``re2.Set``, about a microsecond per ticket), and no pattern an operator writes can make
scoring hang (RE2 has no catastrophic backtracking; it refuses look-arounds and back-references).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import re2
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Priority = Literal["urgent", "high", "normal", "low"]
PRIORITY_ORDER: dict[str, int] = {"urgent": 0, "high": 1, "normal": 2, "low": 3}


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    return options


def _combined(patterns: list[str]) -> str:
    return "|".join(f"(?:{p})" for p in patterns)


class PolicyError(Exception):
    """The policy file is unreadable or invalid; the message names the file and line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class RoutingSection(_Strict):
    threshold: Literal["model"] | Annotated[float, Field(gt=0, lt=1)] = "model"


class PrioritySection(_Strict):
    urgent: Annotated[float, Field(gt=0, le=1)] = 0.95
    high: Annotated[float, Field(gt=0, le=1)] = 0.8


class RuleSpec(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    priority: Literal["urgent", "high", "normal"] = "normal"
    description: str = ""
    patterns: list[str] = []
    min_previous_contacts: Annotated[int, Field(ge=1)] | None = None
    customer_tiers: list[str] = []

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                compiled = re2.compile(pattern, _re2_options())
            except re2.error as exc:
                reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
                raise ValueError(f"invalid regular expression {pattern!r} (RE2 syntax): {reason}") from exc
            if compiled.search("") is not None:
                raise ValueError(
                    f"pattern {pattern!r} matches an empty text, so it would fire on every ticket"
                )
        return patterns


class PolicyFile(_Strict):
    version: str
    routing: RoutingSection = RoutingSection()
    priority: PrioritySection = PrioritySection()
    rules: list[RuleSpec] = []


@dataclass(frozen=True)
class RuleMatch:
    rule: str
    priority: Priority
    field: Literal["text", "subject"] | None = None
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True)
class CompiledRule:
    spec: RuleSpec
    regex: Any | None  # an re2 pattern

    def field_match(self, *, previous_contacts: int | None, tier: str | None) -> RuleMatch | None:
        """A match on the ticket's fields rather than its text."""
        limit = self.spec.min_previous_contacts
        if limit is not None and previous_contacts is not None and previous_contacts >= limit:
            return RuleMatch(self.spec.name, self.spec.priority)
        if tier is not None and tier.lower() in {t.lower() for t in self.spec.customer_tiers}:
            return RuleMatch(self.spec.name, self.spec.priority)
        return None


@dataclass(frozen=True)
class RoutingPolicy:
    version: str
    threshold: float | None  # None: use the model's threshold
    urgent: float
    high: float
    rules: tuple[CompiledRule, ...]
    # One RE2 set over every rule with patterns; entry i is rules[pattern_rules[i]].
    pattern_set: Any = field(default=None, compare=False, repr=False)
    pattern_rules: tuple[int, ...] = ()

    def threshold_for(self, model_threshold: float) -> float:
        return model_threshold if self.threshold is None else self.threshold

    def matches(
        self, *, text: str, subject: str | None, previous_contacts: int | None, tier: str | None
    ) -> list[RuleMatch]:
        """The rules that fire, in policy order; text rules carry the span that fired."""
        found: dict[int, RuleMatch] = {}
        if self.pattern_set is not None:
            fields: tuple[tuple[Literal["text", "subject"], str | None], ...] = (
                ("text", text),
                ("subject", subject),
            )
            for field_name, value in fields:
                if not value:
                    continue
                for entry in self.pattern_set.Match(value) or ():
                    r = self.pattern_rules[entry]
                    if r not in found:
                        rule = self.rules[r]
                        # google-re2's wrapper maps a str's byte offsets back to characters (10.6 us
                        # on a 100-word ticket); an ASCII text's bytes are its characters (3.7 us).
                        m = rule.regex.search(value.encode("ascii") if value.isascii() else value)
                        found[r] = RuleMatch(
                            rule.spec.name, rule.spec.priority, field_name, m.start(), m.end()
                        )
        # Without either field no field rule can fire (most tickets of a file: skip the loop).
        if previous_contacts is not None or tier is not None:
            for r, rule in enumerate(self.rules):
                if r not in found and (
                    hit := rule.field_match(previous_contacts=previous_contacts, tier=tier)
                ):
                    found[r] = hit
        return [found[r] for r in sorted(found)] if found else []

    def band(self, probability: float) -> Priority:
        if probability >= self.urgent:
            return "urgent"
        if probability >= self.high:
            return "high"
        return "normal"


def _line_of(raw: str, loc: tuple[int | str, ...]) -> int:
    """Best line number for a validation error's location in the TOML text."""
    lines = raw.splitlines()
    start = 0
    loc = tuple(loc)
    if loc and loc[0] == "rules" and len(loc) > 1 and isinstance(loc[1], int):
        headers = [i for i, line in enumerate(lines) if line.strip() == "[[rules]]"]
        if loc[1] < len(headers):
            start = headers[loc[1]]
        key = loc[2] if len(loc) > 2 else None
    elif loc and loc[0] in {"routing", "priority"}:
        header = [i for i, line in enumerate(lines) if line.strip() == f"[{loc[0]}]"]
        start = header[0] if header else 0
        key = loc[1] if len(loc) > 1 else None
    else:
        key = loc[0] if loc else None
    if isinstance(key, str):
        for i in range(start, len(lines)):
            if re.match(rf"\s*{re.escape(key)}\s*=", lines[i]):
                return i + 1
            if i > start and lines[i].lstrip().startswith("["):
                break
    return start + 1


def load_policy(path: Path) -> RoutingPolicy:
    """Parse and validate a policy file; raises :class:`PolicyError` naming the line at fault."""
    return parse_policy(read_policy(path), path)


def read_policy(path: Path) -> str:
    """A policy file's text; raises :class:`PolicyError` when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the routing policy ({exc.strerror})") from exc


def parse_policy(raw: str, path: Path) -> RoutingPolicy:
    """:func:`load_policy` on a policy file's text read before (``path`` names it in errors)."""
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path}: {exc}") from exc
    try:
        spec = PolicyFile.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"line {_line_of(raw, tuple(e['loc']))}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors()
        ]
        raise PolicyError(f"{path}, " + "; ".join(problems)) from exc
    names = [r.name for r in spec.rules]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise PolicyError(
                f"{path}, line {_line_of(raw, ('rules', i, 'name'))}: duplicate rule name {name!r}"
            )
    if spec.priority.high > spec.priority.urgent:
        raise PolicyError(
            f"{path}, line {_line_of(raw, ('priority', 'high'))}: priority.high exceeds priority.urgent"
        )
    options = _re2_options()
    rules = tuple(
        CompiledRule(r, re2.compile(_combined(r.patterns), options) if r.patterns else None)
        for r in spec.rules
    )
    pattern_rules = tuple(i for i, r in enumerate(rules) if r.regex is not None)
    pattern_set = None
    if pattern_rules:
        pattern_set = re2.Set.SearchSet(options)
        for i in pattern_rules:
            pattern_set.Add(_combined(rules[i].spec.patterns))
        pattern_set.Compile()
    threshold = None if spec.routing.threshold == "model" else float(spec.routing.threshold)
    return RoutingPolicy(
        spec.version, threshold, spec.priority.urgent, spec.priority.high, rules, pattern_set, pattern_rules
    )
