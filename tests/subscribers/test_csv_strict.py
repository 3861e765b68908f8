"""Strict CSV reading: an unbalanced quote or a surplus field rejects the file, naming the line."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from publisher.core.errors import InputError
from publisher.ingest.textio import clean
from publisher.subscribers import csvfile
from publisher.subscribers.registry import normalise_email

ISSUE_FILE = (
    "email,name,language\n"
    "good1@example.com,One,kk\n"
    "good2@example.com,Two,ru\n"
    'good4@example.com,"Unclosed,en\n'
    "good5@example.com,Five,ru\n"
)


def _parse(text: str) -> tuple[csvfile.CsvReport, list[csvfile.Row]]:
    report = csvfile.CsvReport(path="list.csv", list_slug="weekly")
    report.delimiter = csvfile._delimiter(text)
    rows = csvfile.parse(
        text, "list.csv", report, default_language="kk", default_timezone="Asia/Almaty",
        languages=("kk", "ru", "en"),
    )
    return report, rows


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "subscribers.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_unclosed_quote_rejects_the_file_with_one_line(cli: Any, tmp_path: Path) -> None:
    """The reported file (a quote never closed on line 4) exits 2 naming line 4; nobody is added."""
    result = cli("subscribers", "import", str(_write(tmp_path, ISSUE_FILE)), "--list", "weekly")
    assert result.exit_code == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert "subscribers.csv: line 4: unclosed quote" in line and "hint:" in line
    assert json.loads(cli("subscribers", "list", "--json").stdout) == []


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        (ISSUE_FILE.rstrip("\n"), 4, "runs to the end of the file"),
        ('email,name\na@example.org,"Anna\nb@example.org,"Boris"\n', 2, "runs into line 3"),
        ('email,name\na@example.org,"Anna\nb@example.org,Boris"\nc@example.org,C\n', 2,
         "runs into line 3"),
        ('email,name\na@example.org,A\nb@example.org,"Bo\nris"\n', 3, "runs into line 4"),
        ('email,name,language\n"a@example.org,Anna,kk\n', 2, "runs to the end of the file"),
    ],
)
def test_unbalanced_quotes_name_the_line_where_the_quote_opened(
    text: str, line: int, what: str
) -> None:
    """Wherever the stray quote makes the reader stop, the error names the line it opened on."""
    with pytest.raises(InputError, match=rf"^list\.csv: line {line}: unclosed quote") as info:
        _parse(text)
    assert what in info.value.message and info.value.hint


def test_text_after_a_closing_quote_is_rejected() -> None:
    """`"Ani" Ivanova` (a quoted start, more text after it) is refused with its line."""
    with pytest.raises(InputError, match=r"line 3: stray quote"):
        _parse('email,name\na@example.org,Anna\nb@example.org,"Ani" Ivanova\n')


def test_quotes_inside_a_field_and_quoted_commas_are_fine() -> None:
    """Nicknames in quotes mid-field and quoted commas import as written."""
    report, rows = _parse(
        'email,name\na@example.org,Anna "Ani" Ivanova\nb@example.org,"Petrov, Boris"\n'
        'c@example.org,"Say ""hi"""\n'
    )
    assert not report.rejected
    assert [r.name for r in rows] == ['Anna "Ani" Ivanova', "Petrov, Boris", 'Say "hi"']


def test_surplus_field_rejects_the_file_with_a_hint(cli: Any, tmp_path: Path) -> None:
    """A row with more fields than the header exits 2, names the line and says to quote."""
    path = _write(tmp_path, "email,name\na@example.org,Anna\nb@example.org,Petrov, Boris\n")
    result = cli("subscribers", "import", str(path), "--list", "weekly")
    assert result.exit_code == 2
    assert "subscribers.csv: line 3: rejected b@example.org: 3 fields, the header has 2" in (
        result.stderr
    )
    assert "quote a field that contains ','" in result.stderr
    assert json.loads(cli("subscribers", "list", "--json").stdout) == []


# --- properties ------------------------------------------------------------------------

_local = st.from_regex(r"[a-z0-9]{1,8}(\.[a-z0-9_+-]{1,6}){0,2}", fullmatch=True)
_domain = st.sampled_from(["example.org", "example.kz", "пример.рф", "mail.example.com"])
# Names as people type them: any letters, punctuation, quotes and delimiters, no line break.
_name = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Co", "Cn")), max_size=30
).filter(lambda n: not n.lstrip().startswith("'"))


@st.composite
def _lists(draw: Any) -> list[tuple[str, str, str]]:
    rows = draw(st.lists(st.tuples(_local, _domain, _name), min_size=1, max_size=12))
    return [(f"{local}.{i}@{domain}", name, "kk") for i, (local, domain, name) in enumerate(rows)]


def _csv(rows: list[tuple[str, str, str]], delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(["email", "name", "language"])
    writer.writerows(rows)
    return out.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_lists(), delimiter=st.sampled_from([",", ";"]))
def test_any_well_formed_list_reads_back_row_for_row(
    rows: list[tuple[str, str, str]], delimiter: str
) -> None:
    """Whatever the names hold (quotes, commas, semicolons), a spreadsheet's CSV reads back."""
    text = _csv(rows, delimiter)
    report, parsed = _parse(text)
    assert report.delimiter == delimiter
    assert not report.rejected
    assert [(r.line, r.email, r.name) for r in parsed] == [
        (i + 2, normalise_email(email), " ".join(clean(name).split()))
        for i, (email, name, _) in enumerate(rows)
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_lists(), data=st.data())
def test_a_quote_left_open_is_always_caught(rows: list[tuple[str, str, str]], data: Any) -> None:
    """A quote opened at any field of any row is reported at that row's line, never swallowed."""
    lines = _csv(rows).splitlines(keepends=True)
    row = data.draw(st.integers(0, len(rows) - 1), label="row")
    # Corrupt a row written without quotes, as a person typing a stray quote would.
    assume('"' not in lines[row + 1])
    cells = lines[row + 1].rstrip("\n").split(",")
    column = data.draw(st.integers(0, len(cells) - 1), label="column")
    cells[column] = '"' + cells[column]
    lines[row + 1] = ",".join(cells) + "\n"
    with pytest.raises(InputError, match=rf"^list\.csv: line {row + 2}: "):
        _parse("".join(lines))


@settings(max_examples=400, deadline=None)
@given(
    local=st.from_regex(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,70}", fullmatch=True),
    domain=st.from_regex(r"([A-Za-z0-9-]{1,64}\.){1,3}[A-Za-z0-9]{1,64}", fullmatch=True),
)
def test_fast_address_check_agrees_with_email_validator(local: str, domain: str) -> None:
    """The quick path for plain addresses accepts and folds exactly as email_validator does."""
    address = f"{local}@{domain}"
    try:
        expected: str | None = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        expected = None
    try:
        got: str | None = normalise_email(address)
    except ValueError:
        got = None
    assert got == (expected.lower() if expected else None)
