from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest

from notecheck.batch import render_report, run_batch
from notecheck.cli import main

HEADER = "note_id,client_id,staff_id,service_date,start_time,end_time,minutes,billed_code,text"


def write(tmp_path, name, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def run(path, ledger, **kw):
    out = io.StringIO()
    summary = run_batch(path, out, ledger=ledger, **kw)
    out.seek(0)
    return summary, out


def csv_rows(out):
    return list(csv.DictReader(out))


@pytest.fixture
def week(tmp_path):
    # UTF-8 BOM, Windows line endings, a quoted newline inside a note, and malformed rows.
    lines = [
        HEADER,
        'n1,c1,s1,2026-11-02,09:00,09:30,,CM-MH,"Transported clt to DHS.\r\nWaited in lobby 20 min."',
        "n2,c1,s2,2026-11-02,09:15,09:45,,CM-MH,Advocated with landlord re: repairs; clt stated relief",
        "n3,c2,s1,11/03/2026,2:00 PM,3:00 PM,,CM-TLA,Discharge planning w/ unit SW; CILA bed located",
        "n4,c2,s1,2026-13-40,,,,CM-MH,bad date row",
        "n5,c3,s2,2026-11-04,,,20,ZZ,Faxed ROI",
        "n6,c3,s2,2026-11-04,,,,CM-MH,",
        "n7,c4,s3,2026-11-05,10:00,10:30,,CM-CCC,Consulted clt's psychiatrist re: meds; rec lower dose",
        "n8,c4,s4,2026-11-05,10:00,10:30,,CM-CCC,Joined the psychiatrist consult re: clt's meds; rec lower dose",
    ]
    body = "\ufeff" + "\r\n".join(lines) + "\r\n"
    data = body.encode("utf-8").replace(b"bad date row", b"bad \xff\xfe bytes")
    return write(tmp_path, "week.csv", data)


def test_every_row_comes_back_once_in_order_with_status(week, tmp_path):
    summary, out = run(week, tmp_path / "l.sqlite")
    rows = csv_rows(out)
    assert [r["note_id"] for r in rows] == [f"n{i}" for i in range(1, 9)]
    assert [r["row"] for r in rows] == [str(i) for i in range(1, 9)]
    status = {r["note_id"]: (r["status"], r["error"]) for r in rows}
    # n4's stray bytes are read as Windows-1252 (nothing lost); its date is what fails
    assert status["n4"][0] == "error" and status["n4"][1].startswith("invalid_date: ")
    assert summary["rows_read_as_windows_1252"] == 1
    assert status["n5"][0] == "error" and status["n5"][1].startswith("unknown_billed_code")
    assert status["n6"][0] == "error" and status["n6"][1].startswith("empty_text")
    assert summary["rows"] == 8 and summary["ok"] == 5 and summary["errors"] == 3


def test_rows_carry_the_time_split_and_the_report_totals_units_at_risk(tmp_path):
    lines = [
        HEADER,
        "t1,c1,s1,2026-11-02,09:00,11:15,135,CM-MH,"
        '"Met clt at DHS. Waited in the lobby approx 90 min. CM advocated with the caseworker '
        'to expedite her SNAP."',
        't2,c2,s1,2026-11-02,13:00,13:45,45,CM-MH,"Transported clt to the pharmacy and back."',
        't3,c3,s2,2026-11-03,10:00,10:30,30,CM-MH,"CM advocated with the landlord to delay the eviction."',
    ]
    path = write(tmp_path, "time.csv", ("\n".join(lines) + "\n").encode())
    summary, out = run(path, tmp_path / "l.sqlite")
    rows = {r["note_id"]: r for r in csv_rows(out)}
    assert (rows["t1"]["billable_minutes"], rows["t1"]["non_billable_minutes"]) == ("45.0", "90.0")
    assert (rows["t1"]["units_supported"], rows["t1"]["units_at_risk"]) == ("3", "6")
    assert (rows["t2"]["units_supported"], rows["t2"]["units_at_risk"]) == ("0", "3")
    assert rows["t3"]["units_at_risk"] == "0" and rows["t3"]["time_split"] == "not needed"
    assert summary["staff"]["s1"]["units_at_risk"] == 9
    assert summary["staff"]["s2"]["units_at_risk"] == 0
    assert summary["units_at_risk"] == 9
    html = render_report(summary)
    assert "units at risk" in html


def test_quoted_newline_note_is_one_row_and_scored(week, tmp_path):
    _, out = run(week, tmp_path / "l.sqlite")
    first = csv_rows(out)[0]
    assert first["label"] == "NON-BILLABLE"
    assert set(first["non_billable_rules"].split(";")) >= {
        "transport.transporting",
        "transport.waiting",
    }


def test_billed_code_mismatch_is_found(week, tmp_path):
    summary, out = run(week, tmp_path / "l.sqlite")
    mismatches = summary["billed_code_mismatches"]
    assert mismatches["count"] == 1
    assert mismatches["items"][0]["note_id"] == "n1"
    assert mismatches["items"][0]["billed_code"] == "CM-MH"
    assert mismatches["items"][0]["label"] == "NON-BILLABLE"
    assert summary["staff"]["s1"]["mismatches"] == 1


def test_overlaps_and_double_billed_ccc_are_found(week, tmp_path):
    summary, out = run(week, tmp_path / "l.sqlite")
    kinds = {(o["kind"], tuple(o["note_ids"])) for o in summary["overlaps"]}
    assert ("time_overlap", ("n1", "n2")) in kinds
    assert ("ccc_billed_twice", ("n7", "n8")) in kinds
    assert len(summary["overlaps"]) == 2
    # each row says what it overlaps, so a supervisor filtering the sheet sees it
    overlaps_with = {r["note_id"]: r["overlaps_with"] for r in csv_rows(out)}
    assert overlaps_with["n1"] == "time_overlap: n2" and overlaps_with["n2"] == "time_overlap: n1"
    assert overlaps_with["n8"] == "ccc_billed_twice: n7" and overlaps_with["n3"] == ""


def cap_file(tmp_path, name, ids, hours_each):
    lines = [HEADER] + [
        f"{i},cx,s9,2026-0{k + 1}-10,,,{hours_each * 60},CM-TLA,Discharge planning with hospital SW for placement"
        for k, i in enumerate(ids)
    ]
    return write(tmp_path, name, ("\n".join(lines) + "\n").encode())


def test_annual_cap_is_crossed_across_two_runs_and_rerun_does_not_double_count(tmp_path):
    ledger = tmp_path / "ledger.sqlite"
    first, _ = run(cap_file(tmp_path, "a.csv", ["t1", "t2", "t3"], 10), ledger)
    assert first["caps"] == []  # 30 of 40 hours
    second, second_out = run(cap_file(tmp_path, "b.csv", ["t4", "t5"], 10), ledger)
    (cap,) = second["caps"]
    assert cap["kind"] == "cap_exceeded" and cap["hours"] == 50 and cap["service"] == "CM-TLA"
    assert {r["cap_status"] for r in csv_rows(second_out)} == {"cap_exceeded: CM-TLA 50 of 40 h"}
    again, _ = run(cap_file(tmp_path, "b.csv", ["t4", "t5"], 10), ledger)
    assert again["caps"][0]["hours"] == 50
    with sqlite3.connect(ledger) as conn:
        assert conn.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 5


def test_near_cap_warning(tmp_path):
    summary, _ = run(
        cap_file(tmp_path, "a.csv", ["t1", "t2", "t3", "t4"], 9), tmp_path / "l.sqlite"
    )
    assert summary["caps"][0]["kind"] == "cap_near" and summary["caps"][0]["hours"] == 36


def test_jsonl_in_and_out_with_column_mapping(tmp_path):
    lines = [
        json.dumps({"id": "j1", "body": "CM left VM for clt's PCP re: appt", "code": "CM-MH"}),
        "not json at all",
        json.dumps(["a list"]),
        json.dumps(
            {
                "id": "j4",
                "body": "Role-played calling the pharmacy with clt; clt then made the call herself.",
            }
        ),
    ]
    path = write(tmp_path, "notes.jsonl", ("\n".join(lines) + "\n").encode())
    summary, out = run(
        path,
        None,
        out_fmt="jsonl",
        mapping={"note_id": "id", "text": "body", "billed_code": "code"},
    )
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["row"] for r in rows] == [1, 2, 3, 4]
    assert rows[0]["label"] == "NON-BILLABLE" and rows[0]["billed_code_matches"] is False
    assert rows[1]["status"] == "error" and "JSON" in rows[1]["error"]
    assert rows[2]["status"] == "error"
    assert rows[3]["label"] == "CS-IND"
    assert summary["errors"] == 2


def test_missing_text_column_is_a_clear_error(tmp_path):
    path = write(tmp_path, "x.csv", b"note_id,comments\n1,hello\n")
    with pytest.raises(ValueError, match="no note text column"):
        run(path, None)


def test_two_jobs_give_the_same_rows_as_one(week, tmp_path):
    _, one = run(week, None, jobs=1, chunk_size=2)
    _, two = run(week, None, jobs=2, chunk_size=2)
    assert one.getvalue() == two.getvalue()


def test_report_is_self_contained_html_with_a_chart(week, tmp_path):
    summary, _ = run(week, tmp_path / "l.sqlite")
    html = render_report(summary)
    assert "<svg" in html and "Per staff member" in html and "ccc_billed_twice" in html
    assert "src=" not in html and "href=" not in html
    assert "Transported clt" not in html  # no note text in the report


def test_cli_writes_output_report_and_summary(week, tmp_path, capsys):
    out, report = tmp_path / "out.jsonl", tmp_path / "report.html"
    code = main(
        [
            "batch",
            str(week),
            "--out",
            str(out),
            "--report",
            str(report),
            "--ledger",
            str(tmp_path / "l.sqlite"),
            "--quiet",
        ]
    )
    assert code == 1  # three error rows: the run says so in its exit status
    assert len(out.read_text().splitlines()) == 8
    summary = json.loads(report.with_suffix(".json").read_text())
    assert summary["rows"] == 8 and summary["finding_counts"]["overlaps"] == 2
    assert "8 rows (5 scored, 3 errors)" in capsys.readouterr().err
    # outputs and the ledger are PHI: readable by their owner only
    for written in (out, report, report.with_suffix(".json"), tmp_path / "l.sqlite"):
        assert written.stat().st_mode & 0o077 == 0, written.name


@pytest.mark.parametrize("args", [["batch", "/nonexistent.csv"], ["batch", "x.txt"]])
def test_cli_bad_arguments_exit_2(tmp_path, args, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.txt").write_text("hi")
    assert main(args) == 2
    assert capsys.readouterr().err.startswith("notecheck: ")


def test_progress_follows_the_bytes_read_without_a_counting_pass(week, tmp_path):
    from notecheck.batch import Progress
    from notecheck.batch.reading import ReadPosition

    position = ReadPosition()
    stream = io.StringIO()
    bar = Progress(week.stat().st_size, stream, True, position)
    # the position is the reader's: no second pass over the input counts its rows
    run(week, None, progress=bar)
    assert position.handle is not None and position.handle.closed
    last = stream.getvalue().split("\r")[-1]
    assert "100.0% of" in last and "8 rows" in last and "ETA 0:00" in last
    assert last.endswith("\n")
    quiet = io.StringIO()
    Progress(200, quiet, False).update(50, final=True)
    assert quiet.getvalue() == ""
    half = ReadPosition()
    with week.open("rb", buffering=0) as handle:
        half.handle = handle
        handle.read(week.stat().st_size // 2)
        half.rows = 4  # 4 rows in the first half: about 8 in the file
        text = io.StringIO()
        Progress(week.stat().st_size, text, True, half).update(4)
    assert "50.0% of" in text.getvalue()


def test_the_default_ledger_lives_in_the_user_data_folder_not_the_working_folder(
    week, tmp_path, capsys, monkeypatch
):
    work, data = tmp_path / "work", tmp_path / "data" / "ledger.sqlite"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("NOTECHECK_LEDGER", str(data))
    args = ["batch", str(week), "--out", str(tmp_path / "o.csv"), "--quiet", "--allow-errors"]
    assert main(args) == 0
    assert data.is_file()
    assert list(work.iterdir()) == []
    assert f"ledger {data}" in capsys.readouterr().err


def test_without_an_override_the_ledger_path_is_per_user(monkeypatch):
    import platformdirs

    from notecheck.batch import default_ledger_path

    monkeypatch.delenv("NOTECHECK_LEDGER", raising=False)
    path = default_ledger_path()
    assert path.name == "ledger.sqlite"
    assert path.parent == platformdirs.user_data_path("notecheck", appauthor=False)


def test_locus_hours_count_toward_the_240_hour_case_management_cap(tmp_path):
    # 000 Q46: 220 h of CM-MH + 40 h of CM-LOCUS for one client = 260 h of "all other case
    # management": over the cap only because LOCUS counts.
    rows = [HEADER] + [
        f"m{k},cz,s1,2026-{k + 1:02d}-12,,,{20 * 60},CM-MH,Advocated w/ SSA for clt present"
        for k in range(11)
    ]
    rows += [f"l{k},cz,s1,2026-12-0{k + 1},,,{20 * 60},CM-LOCUS,Did the LOCUS" for k in range(2)]
    summary, out = run(
        write(tmp_path, "c.csv", ("\n".join(rows) + "\n").encode()), tmp_path / "l.sqlite"
    )
    (cap,) = summary["caps"]
    assert cap["kind"] == "cap_exceeded" and cap["hours"] == 260
    assert "CM-LOCUS" in cap["service"] and "Q46" in cap["citation"]
    locus = [r for r in csv_rows(out) if r["note_id"] == "l1"][0]
    assert locus["status"] == "ok" and locus["billed_code"] == "CM-LOCUS"
    assert locus["billed_code_matches"] == ""


def test_a_staff_level_column_checks_q61_per_row(tmp_path):
    body = (
        HEADER.replace("billed_code,text", "billed_code,staff_level,text") + "\n"
        "a1,c1,s1,2026-11-02,,,40,CM-TLA,RSA,Met w/ clt and unit SW to plan d/c to the CILA\n"
        "a2,c1,s2,2026-11-03,,,40,CM-TLA,MHP,Met w/ clt and unit SW to plan d/c to the CILA\n"
        "a3,c1,s2,2026-11-04,,,40,CM-TLA,janitor,Met w/ clt and unit SW to plan d/c to the CILA\n"
    )
    _, out = run(write(tmp_path, "s.csv", body.encode()), tmp_path / "l.sqlite")
    rows = {r["note_id"]: r for r in csv_rows(out)}
    assert "staff_qualified" in rows["a1"]["documentation_failures"]
    assert rows["a1"]["staff_level"] == "RSA"
    assert "staff_qualified" not in rows["a2"]["documentation_failures"]
    assert rows["a3"]["status"] == "error" and "unknown_staff_level" in rows["a3"]["error"]


def test_the_batch_says_which_rows_the_rules_decided(tmp_path):
    # A rule-decided row's confidence is the model's probability of a label it did not pick:
    # the CSV says who decided, and the report's review table says it beside the number.
    from notecheck.batch.report import render_report

    export = write(
        tmp_path,
        "notes.csv",
        b"note_id,text\n"
        b'n1,"Clt is enrolled in ACT. CM called SSA and advocated for clt\'s back pay. 25 min."\n'
        b"n2,CM left VM for clt's PCP re: appt.\n",
    )
    summary, out = run(export, tmp_path / "l.sqlite")
    rows = csv_rows(out)
    assert [(r["label"], r["decided_by"]) for r in rows] == [
        ("NON-BILLABLE", "rules"),
        ("NON-BILLABLE", "model"),
    ]
    html = render_report(summary)
    assert (
        "(the model&#39;s; the rules decided)" in html or "(the model's; the rules decided)" in html
    )
