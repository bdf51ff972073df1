"""The page's feedback fields, turned into the queue API's own ``FeedbackRequest``.

A form sends strings: ``flag`` is "yes", "no" or "" (not said); each dimension is "1", "0" or
"" (no correction). Anything else is refused with a message an agent can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form
from pydantic import ValidationError

from service.queue.schemas import FeedbackRequest

FLAGS = {"yes": True, "no": False}
CORRECTIONS = {"1": 1, "0": 0}


@dataclass(frozen=True)
class FeedbackForm:
    flag: str
    emotional: str
    complex: str
    nuanced: str
    note: str


def read_feedback_form(
    flag: Annotated[str, Form(max_length=5)] = "",
    emotional: Annotated[str, Form(max_length=5)] = "",
    complex: Annotated[str, Form(max_length=5)] = "",
    nuanced: Annotated[str, Form(max_length=5)] = "",
    note: Annotated[str, Form(max_length=5_000)] = "",
) -> FeedbackForm:
    """The feedback fields of a posted form (the resolve and the feedback buttons share them)."""
    return FeedbackForm(flag=flag, emotional=emotional, complex=complex, nuanced=nuanced, note=note)


FeedbackFormDep = Annotated[FeedbackForm, Depends(read_feedback_form)]


def feedback_from_form(form: FeedbackForm, *, required: bool) -> FeedbackRequest | None:
    """The feedback the form gives, None when it gives none and none is ``required``; ValueError
    with a readable message when it is not valid."""
    corrections: dict[str, int] = {}
    for dimension in ("emotional", "complex", "nuanced"):
        value = getattr(form, dimension)
        if value and value not in CORRECTIONS:
            raise ValueError(f"The correction for {dimension} must be yes, no or left empty.")
        if value:
            corrections[dimension] = CORRECTIONS[value]
    note = form.note.strip() or None
    if form.flag and form.flag not in FLAGS:
        raise ValueError("Say whether the ticket needed a person: yes or no.")
    if not form.flag:
        if required or corrections or note:
            raise ValueError("Say whether the ticket needed a person (yes or no) to send feedback.")
        return None
    try:
        return FeedbackRequest.model_validate(
            {"flag_correct": FLAGS[form.flag], "corrections": corrections, "note": note}
        )
    except ValidationError as exc:
        raise ValueError("The feedback is not valid (a note holds at most 5,000 characters).") from exc
