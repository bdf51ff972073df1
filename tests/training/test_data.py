"""Training-data validation: each error names the file, the line and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.model.labelled import DataValidationError, read_labelled, read_labelled_file


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def row(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {"text": "please send my invoice", "emotional": 0, "complex": 0, "nuanced": 0}
    base.update(kw)
    return base


def issues_of(path: Path) -> list[str]:
    with pytest.raises(DataValidationError) as info:
        read_labelled_file(path)
    return [str(i) for i in info.value.issues]


def test_valid_jsonl_derives_needs_human_as_or(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "t.jsonl", [row(id="a"), row(id="b", nuanced=1), row(id="c", needs_human=1)]
    )
    rows = read_labelled_file(path)
    assert [r.labels["needs_human"] for r in rows] == [0, 1, 1]
    assert rows[1].id == "b"


def test_valid_csv_with_quoted_newlines(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        'id,text,emotional,complex,nuanced,language\n1,"two\nlines",1,0,0,en\n2,plain,0,0,0,nl\n',
        encoding="utf-8",
    )
    rows = read_labelled_file(path)
    assert [r.text for r in rows] == ["two\nlines", "plain"]
    assert rows[0].labels == {"emotional": 1, "complex": 0, "nuanced": 0, "needs_human": 1}


def test_missing_column_named_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("text,emotional,complex\nhello,0,0\n", encoding="utf-8")
    assert issues_of(path) == [f"{path}:1: nuanced: missing column"]


def test_missing_field_in_jsonl(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [row(), {"text": "x", "emotional": 0, "complex": 0}])
    assert issues_of(path) == [f"{path}:2: nuanced: missing field"]


def test_empty_text(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [row(), row(text="   ")])
    assert issues_of(path) == [f"{path}:2: text: empty or not a string"]


@pytest.mark.parametrize("bad", [2, "yes", True, 0.5])
def test_label_not_zero_or_one(tmp_path: Path, bad: object) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [row(complex=bad)])
    assert issues_of(path) == [f"{path}:1: complex: label must be 0 or 1 (or blank), got {bad!r}"]


def test_blank_dimension_labels_are_unknown(tmp_path: Path) -> None:
    csv_path = tmp_path / "t.csv"
    csv_path.write_text(
        "text,emotional,complex,nuanced,needs_human\nlate again,1,,,1\nwhere is it, ,,0,0\n", encoding="utf-8"
    )
    assert [r.labels for r in read_labelled_file(csv_path)] == [
        {"emotional": 1, "complex": None, "nuanced": None, "needs_human": 1},
        {"emotional": None, "complex": None, "nuanced": 0, "needs_human": 0},
    ]
    json_path = write_jsonl(
        tmp_path / "t.jsonl", [row(complex=None, needs_human=0), row(nuanced=None, needs_human=1)]
    )
    assert [r.labels for r in read_labelled_file(json_path)] == [
        {"emotional": 0, "complex": None, "nuanced": 0, "needs_human": 0},
        {"emotional": 0, "complex": 0, "nuanced": None, "needs_human": 1},
    ]


def test_needs_human_required_when_a_dimension_is_blank(tmp_path: Path) -> None:
    csv_path = tmp_path / "t.csv"
    csv_path.write_text(
        "text,emotional,complex,nuanced,needs_human\nfine,0,0,0,\nno idea,0,,0,\n", encoding="utf-8"
    )
    assert issues_of(csv_path) == [f"{csv_path}:3: needs_human: required when a dimension label is blank"]
    json_path = write_jsonl(
        tmp_path / "t.jsonl", [row(), row(emotional=None), row(nuanced=None, needs_human=None)]
    )
    assert issues_of(json_path) == [
        f"{json_path}:2: needs_human: required when a dimension label is blank",
        f"{json_path}:3: needs_human: required when a dimension label is blank",
    ]


def test_blank_dimension_beside_a_positive_one_derives_needs_human(tmp_path: Path) -> None:
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("text,emotional,complex,nuanced\nso angry,1,,\n", encoding="utf-8")
    assert read_labelled_file(csv_path)[0].labels == {
        "emotional": 1,
        "complex": None,
        "nuanced": None,
        "needs_human": 1,
    }
    json_path = write_jsonl(tmp_path / "t.jsonl", [row(emotional=None, complex=1)])
    assert read_labelled_file(json_path)[0].labels["needs_human"] == 1


def test_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [row(id="x"), row(id="y"), row(id="x")])
    assert issues_of(path) == [f"{path}:3: id: duplicate id 'x' (first on line 1)"]


def test_invalid_json_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(row()) + "\n{not json\n", encoding="utf-8")
    [issue] = issues_of(path)
    assert issue.startswith(f"{path}:2: -: not valid JSON")


def test_every_error_reported_at_once_across_files(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [row(text=""), row(emotional=3)])
    b = write_jsonl(tmp_path / "b.jsonl", [row(id="1"), row(id="1")])
    with pytest.raises(DataValidationError) as info:
        read_labelled([a, b])
    assert [(i.path, i.line, i.field) for i in info.value.issues] == [
        (str(a), 1, "text"),
        (str(a), 2, "emotional"),
        (str(b), 2, "id"),
    ]


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("hello", encoding="utf-8")
    assert issues_of(path) == [f"{path}:0: -: unsupported file type '.txt' (use .csv or .jsonl)"]


def test_csv_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("text,emotional,complex,nuanced\nhallo,0,0,1\n".encode("utf-8-sig"))
    assert read_labelled_file(path)[0].labels["nuanced"] == 1


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,emotional,complex,nuanced\nok,0,0,0\ncaf\xe9,0,0,0\n".encode("latin-1"))
    assert issues_of(path) == [f"{path}:3: -: not UTF-8 text (save the file as UTF-8)"]


def test_duplicate_id_across_files(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [row(id="x")])
    b = write_jsonl(tmp_path / "b.jsonl", [row(id="y"), row(id="x")])
    with pytest.raises(DataValidationError) as info:
        read_labelled([a, b])
    assert [str(i) for i in info.value.issues] == [f"{b}:2: id: duplicate id 'x' (first at {a}:1)"]
