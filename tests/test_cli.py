from __future__ import annotations

import io
import json
import sys

import pytest

from notecheck.cli import main


def test_check_prints_label_and_marked_evidence(capsys):
    assert main(["check", "CM left VM for clt's PCP re: appt"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("NON-BILLABLE")
    assert "[left VM]{contact.voicemail_left}" in out


def test_check_json_from_stdin(monkeypatch, capsys):
    note = "Phone consult w/ clt's psychiatrist re: med response; rec to titrate. 15 min"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(note.encode())))
    assert main(["check", "-", "--json", "--billed-code", "CM-CCC"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["label"] == "CM-CCC" and data["billed_code_matches"] is True


def test_check_reads_a_note_from_a_file_path(tmp_path, capsys):
    note = tmp_path / "note.txt"
    note.write_text("Drove clt to the pharmacy and waited 40 min. Total 60 min.", encoding="utf-8")
    assert main(["check", str(note), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["label"] == "NON-BILLABLE" and data["time"]["total_minutes"] == 60


def test_check_a_long_one_line_note_is_the_note_not_a_path(capsys):
    # Longer than a file name may be: asking the file system must not end in a traceback.
    note = "Writer drove clt to the SSA office and waited in the lobby (35 min). " * 5
    assert main(["check", note.strip(), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == "NON-BILLABLE"


def test_check_a_file_that_is_not_utf8_exits_2(tmp_path, capsys):
    note = tmp_path / "note.txt"
    note.write_bytes(b"Clt\x92s ride to the clinic")
    assert main(["check", str(note)]) == 2
    assert "is not valid UTF-8" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["check", "  "], ["check", "x", "--billed-code", "ZZ"]])
def test_check_bad_input_exits_2_without_traceback(args, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("notecheck: ") and "Traceback" not in err


def test_non_utf8_stdin_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xff\xfe\x00bad")))
    assert main(["check", "-"]) == 2
    assert "UTF-8" in capsys.readouterr().err


def test_missing_model_exits_3(tmp_path, capsys):
    assert main(["check", "CM faxed ROI", "--model-dir", str(tmp_path)]) == 3
    assert "model file missing" in capsys.readouterr().err


def test_rules_lists_catalog_with_citations(capsys):
    assert main(["rules", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["rules"]) >= 40
    assert all(rule["citations"] for rule in data["rules"])


def test_data_validate_reports_counts(capsys):
    assert main(["data", "validate"]) == 0
    out = capsys.readouterr().out
    assert "validation: OK" in out and "NON-BILLABLE" in out


def test_check_names_each_rule_source_readably(capsys):
    assert main(["check", "Drove clt to the DHS office and waited 40 min."]) == 0
    out = capsys.readouterr().out
    assert "Illinois, Rule 132 Q&A, question 8 (line 131) [000_7327f7de9bed1889.txt#Q8" in out


def test_an_internal_error_names_its_type_but_never_the_note(monkeypatch, capsys):
    from notecheck.engine import Engine

    def fails(self, items, batch_size):
        raise RuntimeError(f"could not parse {items[0].text!r}")

    monkeypatch.setattr(Engine, "_results", fails)
    assert main(["check", "Jane Roe told writer she drove to the clinic."]) == 70
    err = capsys.readouterr().err
    assert "RuntimeError" in err and "Jane Roe" not in err and "Traceback" not in err


def test_versions_lists_the_installed_runtime_closure_for_an_audit(capsys):
    from importlib import metadata

    assert main(["versions"]) == 0
    lines = capsys.readouterr().out.splitlines()
    pins = dict(line.split("  #")[0].split("==") for line in lines)
    assert pins["scikit-learn"] == metadata.version("scikit-learn")
    assert {"spacy", "skops", "fastapi", "numpy", "thinc", "pydantic"} <= set(pins)
    assert "pytest" not in pins  # test tools are not run-time dependencies


def test_the_model_dir_variable_is_honoured_by_the_cli_too(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NOTECHECK_MODEL_DIR", str(tmp_path))  # an empty folder: no model
    assert main(["check", "Faxed ROI to PCP."]) == 3
    assert str(tmp_path) in capsys.readouterr().err
