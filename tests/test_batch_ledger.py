"""The batch ledger: keys that neither lose nor double hours, overlaps found in one sweep."""

from __future__ import annotations

import csv
import io
import sqlite3
import time

from notecheck.batch import run_batch
from notecheck.batch.findings import find_overlaps
from notecheck.batch.ledger import LEDGER_VERSION, open_ledger
from notecheck.cli import main


def insert(conn, key, client, staff, start, end, code="CM-MH", day="2026-11-02"):
    conn.execute(
        "INSERT INTO notes VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            key,
            key,
            client,
            staff,
            day,
            2026,
            start,
            end,
            end - start,
            code,
            code,
            code,
            "",
            "il132",
            None,
            None,
        ),
    )


def overlaps(conn, keys=None):
    keys = keys or {r[0] for r in conn.execute("SELECT note_key FROM notes")}
    return sorted((f["kind"], tuple(f["note_ids"])) for f in find_overlaps(conn, keys))


def test_two_thousand_overlapping_notes_are_one_finding_found_in_one_sweep():
    conn = open_ledger(":memory:")
    for i in range(2000):
        insert(conn, f"k{i:04d}", "c1", f"s{i % 7}", 540 + i % 30, 600 + i % 30)
    started = time.perf_counter()
    found = find_overlaps(conn, {f"k{i:04d}" for i in range(2000)})
    assert time.perf_counter() - started < 2
    assert len(found) == 1 and found[0]["kind"] == "time_overlap"
    assert len(found[0]["note_ids"]) == 2000


def test_each_kind_of_overlap_and_the_one_that_is_allowed():
    conn = open_ledger(":memory:")
    insert(conn, "q1a", "c1", "s1", 540, 600)  # two staff, one client, same hour (Q1)
    insert(conn, "q1b", "c1", "s2", 570, 630)
    insert(conn, "q56a", "c2", "s10", 540, 600)  # CCC by s11 during s10's direct service (Q56)
    insert(conn, "q56b", "c2", "s11", 550, 580, code="CM-CCC")
    insert(conn, "cc_a", "c3", "s3", 700, 730, code="CM-CCC")  # one consult billed twice
    insert(conn, "cc_b", "c3", "s4", 700, 730, code="CM-CCC")
    insert(conn, "two_a", "c4", "s5", 800, 860)  # one staff member, two clients at once
    insert(conn, "two_b", "c5", "s5", 830, 890)
    insert(conn, "self_a", "c6", "s6", 900, 960)  # one staff member, one client, twice
    insert(conn, "self_b", "c6", "s6", 930, 990)
    insert(conn, "apart_a", "c7", "s7", 540, 600)  # back to back is not an overlap
    insert(conn, "apart_b", "c7", "s8", 600, 660)
    assert overlaps(conn) == [
        ("ccc_billed_twice", ("cc_a", "cc_b")),
        ("staff_overlap", ("self_a", "self_b")),
        ("staff_two_clients", ("two_a", "two_b")),
        ("time_overlap", ("q1a", "q1b")),
    ]


NOTE_A = "Advocated w/ SSA for clt's waiver (60 min)."
NOTE_B = "Advocated with SSA for the client's waiver; 60 min."


def score(tmp_path, name, body, ledger):
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return run_batch(path, io.StringIO(), ledger=ledger)


def test_a_note_id_reused_at_another_site_and_an_edited_note_count_correctly(tmp_path):
    ledger = tmp_path / "l.sqlite"
    header = "note_id,client_id,staff_id,service_date,start_time,end_time,billed_code,text\n"
    score(tmp_path, "a.csv", header + f"77,c1,s1,2026-11-02,09:00,10:00,CM-MH,{NOTE_A}\n", ledger)
    score(tmp_path, "b.csv", header + f"77,c9,s4,2026-11-02,09:00,10:00,CM-MH,{NOTE_A}\n", ledger)
    no_id = ",c2,s1,2026-11-03,09:00,10:00,CM-MH,{}\n"
    score(tmp_path, "c.csv", header + no_id.format(NOTE_A), ledger)
    score(tmp_path, "d.csv", header + no_id.format(NOTE_B), ledger)  # the note, edited
    conn = sqlite3.connect(ledger)
    minutes = dict(conn.execute("SELECT client_id, SUM(minutes) FROM notes GROUP BY client_id"))
    assert minutes == {"c1": 60, "c9": 60, "c2": 60}


def test_caps_count_the_exports_minutes_never_minutes_read_from_the_note(tmp_path):
    rows = "".join(
        f"t{i},c1,2026-11-0{i},CM-TLA,Called the unit SW to arrange d/c f/u (30 min).\n"
        for i in range(1, 4)
    )
    ledger = tmp_path / "l.sqlite"
    summary = score(tmp_path, "w.csv", "note_id,client_id,service_date,billed_code,text\n" + rows,
                    ledger)  # fmt: skip
    assert summary["caps"] == []
    counted = sqlite3.connect(ledger).execute("SELECT COUNT(minutes) FROM notes").fetchone()[0]
    assert counted == 0


def test_a_damaged_ledger_stops_the_run_before_any_output(tmp_path, capsys):
    ledger = tmp_path / "l.sqlite"
    ledger.write_bytes(b"this is not a database" * 100)
    week = tmp_path / "w.csv"
    week.write_text(f"note_id,text\n1,{NOTE_A}\n", encoding="utf-8")
    out = tmp_path / "o.csv"
    out.write_text("yesterday's results\n")
    assert main(["batch", str(week), "--out", str(out), "--ledger", str(ledger), "--quiet"]) == 2
    assert "is not a notecheck ledger or is damaged" in capsys.readouterr().err
    assert out.read_text() == "yesterday's results\n"


def test_a_version_1_ledger_is_migrated_to_keys_with_the_client(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = open_ledger(path)
    insert(conn, "id:77", "c1", "s1", 540, 600)
    conn.execute("UPDATE notes SET note_id = '77'")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    conn = open_ledger(path)
    assert conn.execute("SELECT note_key FROM notes").fetchone()[0] == "id:c1\x1f77"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == LEDGER_VERSION


def test_report_renders_a_period_of_the_ledger(tmp_path, capsys):
    from ehr_export import rows, write_csv

    ledger = tmp_path / "l.sqlite"
    week = write_csv(tmp_path / "week.csv", rows(60))
    assert main(["batch", str(week), "--ledger", str(ledger), "--quiet", "--allow-errors",
                 "--out", str(tmp_path / "o.csv")]) == 0  # fmt: skip
    out = tmp_path / "trend.html"
    args = ["report", "--ledger", str(ledger), "--from", "2026-11-01", "--to", "2026-11-30"]
    assert main([*args, "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "2026-W45" in html and "2026-W47" in html and "Dana Ruiz" in html
    assert "59 notes from 2026-11-01 to 2026-11-30 in 3 week(s)" in capsys.readouterr().err
    assert out.stat().st_mode & 0o077 == 0
    assert main(["report", "--ledger", str(tmp_path / "none.sqlite"), "--out", str(out)]) == 2


def test_a_second_run_on_a_busy_ledger_waits_for_the_first(tmp_path):
    import threading

    ledger = tmp_path / "l.sqlite"
    open_ledger(ledger).close()
    holder = sqlite3.connect(ledger, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # another run in the middle of writing
    threading.Timer(1.0, holder.rollback).start()
    started = time.perf_counter()
    summary = score(tmp_path, "w.csv", f"note_id,text\n1,{NOTE_A}\n", ledger)
    assert summary["ok"] == 1 and time.perf_counter() - started >= 1.0
    holder.close()


def _children(pid):
    from pathlib import Path

    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid):
    from pathlib import Path

    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_killing_a_batch_leaves_no_worker_processes_behind(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from ehr_export import rows, write_csv

    week = write_csv(tmp_path / "week.csv", rows(300) * 4)
    args = [sys.executable, "-m", "notecheck", "batch", str(week), "--jobs", "2", "--quiet",
            "--no-ledger", "--out", str(tmp_path / "o.csv")]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    workers = []
    while len(workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        workers = [p for p in _children(proc.pid) if _alive(p)]
    assert len(workers) >= 2, "the workers never started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in workers)


def test_a_claim_billed_again_under_another_id_is_flagged_in_this_run_and_the_next(tmp_path):
    ledger = tmp_path / "l.sqlite"
    header = "note_id,client_id,staff_id,service_date,start_time,end_time,billed_code,text\n"
    claim = "c1,s1,2026-11-02,09:00,10:00,CM-MH,{}\n"
    first = tmp_path / "w1.csv"
    first.write_text(header + "a1," + claim.format(NOTE_A), encoding="utf-8")
    run_batch(first, io.StringIO(), ledger=ledger)
    second = tmp_path / "w2.csv"
    second.write_text(
        header + "b7," + claim.format(NOTE_B) + "b8,c1,s1,2026-11-02,11:00,12:00,CM-MH,Faxed ROI\n",
        encoding="utf-8",
    )
    out = io.StringIO()
    summary = run_batch(second, out, ledger=ledger)
    out.seek(0)
    same = {r["note_id"]: r["same_claim_as"] for r in csv.DictReader(out)}
    assert same == {"b7": "a1", "b8": ""} and summary["repeated_claims"] == 1


def _ledger_rows(path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT note_key, note_id, client_id, minutes, predicted_label, cap_code "
            "FROM notes ORDER BY note_key"
        ).fetchall()
    finally:
        conn.close()


# The killed run: a real batch whose progress hook stops it for good after row 300, after the
# first commit (every 256 rows) and before the end of the file, so the kill -9 lands mid-file.
_STALLED_RUN = """
import io, sys, time
from notecheck.batch.run import Progress, run_batch

class Stall(Progress):
    def update(self, done, final=False):
        if done >= 300:
            print("stalled", flush=True)
            time.sleep(600)

run_batch(sys.argv[1], io.StringIO(), ledger=sys.argv[2], progress=Stall(None, sys.stderr, False))
"""


def test_a_run_killed_mid_file_is_completed_by_a_rerun_that_counts_nothing_twice(tmp_path):
    import signal
    import subprocess
    import sys

    from ehr_export import rows, write_csv

    export = write_csv(tmp_path / "week.csv", rows(450))
    clean = tmp_path / "clean.db"
    run_batch(export, io.StringIO(), ledger=clean)
    expected = _ledger_rows(clean)
    assert len(expected) == 448  # 450 rows, two of them deliberately bad

    killed = tmp_path / "killed.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", _STALLED_RUN, str(export), str(killed)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "stalled"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    partial = _ledger_rows(killed)
    assert len(partial) == 254  # rows 1-256 committed, less the two bad ones; 257-300 lost

    run_batch(export, io.StringIO(), ledger=killed)
    assert _ledger_rows(killed) == expected
