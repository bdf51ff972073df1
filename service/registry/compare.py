"""``triage models compare A B``: two versions on the tickets both scored (as champion or shadow).

Agreement, how routing would change, and, where agents or helpdesks gave feedback, which of the
two routed those tickets right.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from service.registry import repository


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    tickets: int
    agreement: float | None
    human_share_a: float | None
    human_share_b: float | None
    to_human: int  # routed to automation by A, to a person by B
    to_automation: int  # routed to a person by A, to automation by B
    mean_abs_diff: float | None  # of needs_human
    with_feedback: int
    right_a: float | None  # share of the tickets with feedback that A routed right
    right_b: float | None
    recall_a: float | None  # of the tickets that needed a person, the share A sent to one
    recall_b: float | None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def compare_versions(*, session: Session, a: str, b: str) -> Comparison:
    """Compare versions ``a`` and ``b`` on every ticket both of them scored."""
    sa, sb = repository.scores_of(session, a), repository.scores_of(session, b)
    both = sorted(sa.keys() & sb.keys())
    same = sum(sa[k][0] == sb[k][0] for k in both)
    to_human = sum(sa[k][0] == "automation" and sb[k][0] == "human" for k in both)
    to_automation = sum(sa[k][0] == "human" and sb[k][0] == "automation" for k in both)
    diffs = [abs(pa - pb) for k in both if (pa := sa[k][1]) is not None and (pb := sb[k][1]) is not None]
    truth = repository.feedback_truth(session)
    judged = [k for k in both if k in truth]
    needed = [k for k in judged if truth[k] == 1]
    return Comparison(
        a=a,
        b=b,
        tickets=len(both),
        agreement=_share(same, len(both)),
        human_share_a=_share(sum(sa[k][0] == "human" for k in both), len(both)),
        human_share_b=_share(sum(sb[k][0] == "human" for k in both), len(both)),
        to_human=to_human,
        to_automation=to_automation,
        mean_abs_diff=round(sum(diffs) / len(diffs), 4) if diffs else None,
        with_feedback=len(judged),
        right_a=_share(sum((sa[k][0] == "human") == bool(truth[k]) for k in judged), len(judged)),
        right_b=_share(sum((sb[k][0] == "human") == bool(truth[k]) for k in judged), len(judged)),
        recall_a=_share(sum(sa[k][0] == "human" for k in needed), len(needed)),
        recall_b=_share(sum(sb[k][0] == "human" for k in needed), len(needed)),
    )
