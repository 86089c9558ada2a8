"""What EHRs and Excel write: encodings, delimiters, JSON arrays, workbooks, EHR column names."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, time

import pytest
from ehr_export import HEADER as EHR_HEADER

from notecheck.batch import run_batch
from notecheck.cli import main

EHR_ROWS = [
    ["a1", "c1", "Dana Ruiz", "11/02/2026", "9:05 AM", "45", "CM-MH",
     "Drove clt to the DHS office (20 min) and waited 25 min in the lobby; clt’s “redet” pending."],
    ["a2", "c1", "Lee Park", "11/02/2026", "1:30 PM", "1h 15m", "CM-MH",
     "Called SSA w/ clt on speaker and advocated for the overpayment waiver – clt’s rep agreed."],
    ["a3", "c2", "Dana Ruiz", "11/03/2026", "10:00 AM", "30", "CS-IND",
     "Practiced the bus route w/ clt; coached her to read the schedule — she did it herself."],
]  # fmt: skip


def run(path, **kw):
    out = io.StringIO()
    summary = run_batch(path, out, ledger=None, **kw)
    out.seek(0)
    return summary, list(csv.DictReader(out))


def test_an_excel_windows_1252_csv_with_ehr_column_names_scores_every_row(tmp_path):
    path = tmp_path / "export.csv"
    with path.open("w", encoding="cp1252", newline="") as handle:
        csv.writer(handle).writerows([EHR_HEADER, *EHR_ROWS])
    assert b"\x92" in path.read_bytes()  # the curly apostrophe Excel writes on Windows
    summary, rows = run(path)
    assert [r["status"] for r in rows] == ["ok", "ok", "ok"]
    assert summary["rows_read_as_windows_1252"] == 3
    assert [r["note_id"] for r in rows] == ["a1", "a2", "a3"]
    assert rows[0]["label"] == "NON-BILLABLE" and rows[2]["label"] == "CS-IND"
    assert rows[1]["minutes"] == "75.0"  # "1h 15m" in the duration column
    assert rows[0]["staff_id"] == "Dana Ruiz" and rows[0]["start_time"] == "9:05 AM"


def test_tab_separated_and_semicolon_separated_files_are_read_by_their_delimiter(tmp_path):
    for name, delimiter in (("export.tsv", "\t"), ("export.csv", ";")):
        path = tmp_path / name
        with path.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle, delimiter=delimiter).writerows([EHR_HEADER, *EHR_ROWS])
        _, rows = run(path)
        assert [r["status"] for r in rows] == ["ok", "ok", "ok"], name


def test_a_json_array_is_one_row_per_element(tmp_path):
    path = tmp_path / "export.json"
    notes = [dict(zip(EHR_HEADER, row, strict=True)) for row in EHR_ROWS[:2]]
    path.write_text(json.dumps(notes, indent=2), encoding="utf-8")
    _, rows = run(path)
    assert [r["note_id"] for r in rows] == ["a1", "a2"]


def test_an_xlsx_workbook_with_date_and_time_cells_scores_every_row(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(EHR_HEADER)
    for row in EHR_ROWS:
        month, day, year = (int(x) for x in row[3].split("/"))
        clock = datetime.strptime(row[4], "%I:%M %p").time()
        sheet.append([*row[:3], date(year, month, day), clock, *row[5:]])
    sheet.append([None] * len(EHR_HEADER))  # Excel's trailing blank rows
    path = tmp_path / "export.xlsx"
    book.save(path)
    _, rows = run(path)
    assert [r["status"] for r in rows] == ["ok", "ok", "ok"]
    assert rows[0]["service_date"] == "2026-11-02" and rows[0]["start_time"] == "09:05"
    assert time(9, 5).strftime("%H:%M") == rows[0]["start_time"]


def test_a_map_to_a_column_that_does_not_exist_is_an_error(tmp_path, capsys):
    path = tmp_path / "export.csv"
    path.write_text("id,note\n1,Faxed ROI\n", encoding="utf-8")
    assert main(["batch", str(path), "--map", "text=NoteBody", "--no-ledger", "--quiet"]) == 2
    assert "--map text=NoteBody: the input has no such column" in capsys.readouterr().err


def test_outputs_that_would_overwrite_the_input_or_land_nowhere_are_refused_first(tmp_path, capsys):
    path = tmp_path / "week.json"
    path.write_text('[{"text": "Faxed ROI"}]', encoding="utf-8")
    before = path.read_bytes()
    ledger = tmp_path / "ledger.sqlite"
    for extra in (
        ["--out", str(path)],
        ["--report", str(tmp_path / "week.html")],  # its summary would be week.json
        ["--out", str(tmp_path / "missing" / "o.csv")],
    ):
        code = main(["batch", str(path), "--ledger", str(ledger), "--quiet", *extra])
        assert code == 2, extra
    err = capsys.readouterr().err
    assert "would overwrite the input" in err and "no such folder" in err
    assert path.read_bytes() == before and not ledger.exists()


def test_error_messages_are_whole_and_grouped_by_code(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        "note_id,start_time,billed_code,text\n"
        "1,25:00,CM-MH,Faxed ROI\n2,,NON-BILLABLE,Faxed ROI\n3,,,Faxed ROI\n",
        encoding="utf-8",
    )
    summary, rows = run(path)
    assert rows[0]["error"] == "invalid_time: start_time is not a time (use HH:MM or H:MM AM/PM)"
    assert rows[1]["error"].startswith("unknown_billed_code: ")  # a verdict is not a code
    assert rows[2]["status"] == "ok"
    assert summary["errors_by_reason"] == {"invalid_time": 1, "unknown_billed_code": 1}


def test_repeated_note_ids_are_flagged_with_the_row_they_repeat(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        "note_id,text\nn1,Faxed ROI\nn2,Left VM for SSA\nn1,Faxed ROI again\n", encoding="utf-8"
    )
    summary, rows = run(path)
    assert [r["duplicate_of"] for r in rows] == ["", "", "1"]
    assert summary["duplicate_note_ids"] == 1


def test_the_csv_output_opens_safely_in_a_spreadsheet(tmp_path, capsys):
    path = tmp_path / "export.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(
            [
                ["note_id", "client_id", "text"],
                ['=HYPERLINK("http://x")', "@SUM(A1)", "Faxed ROI"],
                ["n\r2", "-1+2", "Left VM for SSA"],
                ["n3", "c3", "Called SSA and advocated for clt. " + "x" * 140_000],
            ]
        )
    out = tmp_path / "scored.csv"
    assert main(["batch", str(path), "--out", str(out), "--no-ledger", "--quiet"]) == 1
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert len(rows) == 3  # the CR inside an id did not split a row
    assert rows[0]["note_id"] == '\'=HYPERLINK("http://x")' and rows[0]["client_id"] == "'@SUM(A1)"
    assert rows[1]["note_id"] == "n\r2" and rows[1]["client_id"] == "'-1+2"
    # a field longer than csv's default limit is an error row of its own, not an aborted run
    assert rows[2]["status"] == "error" and rows[2]["error"].startswith("text_too_long")
    assert "exit status 1: 1 error row(s)" in capsys.readouterr().err
    assert main(["batch", str(path), "--out", str(out), "--no-ledger", "--quiet",
                 "--allow-errors"]) == 0  # fmt: skip


def test_a_300_row_excel_export_scores_every_row_but_the_deliberately_bad_ones(tmp_path, capsys):
    openpyxl = pytest.importorskip("openpyxl")
    from ehr_export import BAD_ROWS, rows, write_csv, write_xlsx

    data = rows()
    outputs = {}
    for source in (
        write_csv(tmp_path / "week.csv", data),
        write_xlsx(tmp_path / "week.xlsx", data),
    ):
        out = tmp_path / f"scored-{source.suffix[1:]}.xlsx"
        code = main(["batch", str(source), "--out", str(out), "--no-ledger", "--quiet"])
        assert code == 1  # the two bad rows
        book = openpyxl.load_workbook(out)
        sheet = book["notes"]
        header = [c.value for c in sheet[1]]
        table = [dict(zip(header, (c.value for c in r), strict=True)) for r in sheet.iter_rows(2)]
        assert len(table) == 300 and [r["row"] for r in table] == list(range(1, 301))
        errors = [r["row"] for r in table if r["status"] == "error"]
        assert errors == list(BAD_ROWS), source.name
        assert {"overlaps_with", "cap_status", "duplicate_of", "units_at_risk"} <= set(header)
        assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref.startswith("A1:")
        assert "findings" in book.sheetnames
        outputs[source.suffix] = [(r["note_id"], r["label"], r["overlaps_with"]) for r in table]
    assert outputs[".csv"] == outputs[".xlsx"]  # the same export, however it was saved
    assert "300 rows (298 scored, 2 errors)" in capsys.readouterr().err


def test_malformed_rows_become_error_rows_instead_of_merging_or_aborting(tmp_path):
    merged = tmp_path / "quote.csv"
    merged.write_text(
        "note_id,client_id,service_date,text\n"
        'n1,c1,2026-11-02,"Faxed ROI to PCP.\n'
        "n2,c1,2026-11-02,Left VM for SSA.\n"
        "n3,c2,2026-11-03,Called SSA and advocated.\n",
        encoding="utf-8",
    )
    _, rows = run(merged)
    assert len(rows) == 1 and rows[0]["error"].startswith("unbalanced_quote: this row holds 2")
    surrogate = tmp_path / "ids.jsonl"
    surrogate.write_text(
        '{"note_id": "a\\ud800b", "text": "Faxed ROI"}\n{"note_id": "n2", "text": "Left VM"}\n',
        encoding="utf-8",
    )
    _, rows = run(surrogate)
    assert [r["status"] for r in rows] == ["error", "ok"]
    assert rows[0]["error"].startswith("undecodable: ") and rows[1]["note_id"] == "n2"
    # a note whose second line merely has commas is not a swallowed row
    fine = tmp_path / "fine.csv"
    fine.write_text(
        'note_id,client_id,service_date,text\nn1,c1,2026-11-02,"Called SSA.\nPlan: f/u, call, fax"\n',
        encoding="utf-8",
    )
    assert run(fine)[1][0]["status"] == "ok"


def test_a_row_cut_short_before_its_text_says_so_and_trailing_cells_may_be_left_off(tmp_path):
    export = tmp_path / "short.csv"
    export.write_text(
        "note_id,client_id,text,billed_code,modifier\n"
        "n1,c1,Called SSA and advocated for clt's claim (20 min).,CM-MH,\n"
        "n2,c1,Left VM for the landlord.\n"  # trailing optional cells left off: fine
        "n3,c2\n",  # cut before the text
        encoding="utf-8",
    )
    _, rows = run(export)
    assert [r["status"] for r in rows] == ["ok", "ok", "error"]
    assert rows[1]["label"] == "NON-BILLABLE"
    assert rows[2]["error"] == (
        "missing_cells: row has 2 cells, the header 5; the note text (column 3, 'text') is "
        "not in it"
    )
