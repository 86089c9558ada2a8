"""A real browser against a real server: paste a note, press Check, see the label and spans."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT_DIR = Path(
    os.environ.get("NOTECHECK_SCREENSHOTS", Path(__file__).parent.parent / "screenshots")
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_url():
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "NOTECHECK_API_KEYS"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "notecheck", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(proc.stderr.read().decode()[-2000:]) from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it")
        pytest.skip("chromium not installed (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


def test_reviewer_pastes_a_note_and_sees_label_and_highlights(server_url, browser):
    page = browser.new_page(viewport={"width": 1100, "height": 1300})
    page.goto(server_url + "/")
    page.get_by_label("Progress note").fill(
        "Transported clt to the pharmacy. CM left VM for her PCP re: refill appt."
    )
    page.get_by_label("Billed as (optional)").select_option("CM-MH")
    page.get_by_role("button", name="Check").click()
    page.wait_for_selector("#result:not([hidden])", timeout=20000)
    assert page.inner_text("#label-badge") == "NON-BILLABLE"
    marks = page.locator("#highlighted mark.non-billable")
    assert marks.count() >= 2
    assert {marks.nth(i).get_attribute("data-rule") for i in range(marks.count())} >= {
        "transport.transporting",
        "contact.voicemail_left",
    }
    assert "Billed as CM-MH" in page.inner_text("#hints")
    assert page.locator("#doc-checks tbody tr").count() == 4  # the Illinois checks
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "reviewer-page.png"), full_page=True)
    assert (SCREENSHOT_DIR / "reviewer-page.png").stat().st_size > 10_000


def test_a_label_the_rules_chose_is_not_shown_as_the_models_confidence(server_url, browser):
    page = browser.new_page(viewport={"width": 1100, "height": 1300})
    page.goto(server_url + "/")
    note = page.get_by_label("Progress note")
    note.fill("Clt is enrolled in ACT. CM called SSA and advocated for clt's back pay. 25 min.")
    page.get_by_role("button", name="Check").click()
    page.wait_for_selector("#result:not([hidden])", timeout=20000)
    assert page.inner_text("#label-badge") == "NON-BILLABLE"
    assert page.inner_text("#confidence-label") == "Decided by the rules"
    assert page.inner_text("#confidence-text").startswith("the model gave this label ")
    assert page.locator("#confidence-bar").is_hidden()  # no bar for a number that is not one
    note.fill("CM left VM for clt's PCP re: appt")
    page.get_by_role("button", name="Check").click()
    page.wait_for_selector("#confidence-label:has-text('Confidence')", timeout=20000)
    assert page.inner_text("#confidence-text").endswith("%")
    assert page.locator("#confidence-bar").is_visible()


def test_reviewer_sees_sections_the_time_split_and_units_at_risk(server_url, browser):
    page = browser.new_page(viewport={"width": 1100, "height": 1500})
    page.goto(server_url + "/")
    page.get_by_label("Progress note").fill(
        "Goal: clt will keep SNAP with CM advocacy.\n"
        "D: Met clt at DHS 9:00-11:15. Waited in the lobby approx 90 min while clt was called. "
        "CM advocated with the caseworker to expedite her SNAP.\n"
        "P: CM will transport clt to SSA next week."
    )
    page.get_by_label("Minutes billed (optional)").fill("135")
    page.get_by_role("button", name="Check").click()
    page.wait_for_selector("#result:not([hidden])", timeout=20000)
    assert page.inner_text("#label-badge") == "CM-MH"
    # goal and plan text is shaded and its matches are shown as not counted
    assert page.locator("#highlighted .sec-goal").count() == 1
    assert page.locator("#highlighted .sec-plan mark.inactive").count() >= 1
    assert page.locator("#time-bar .seg.billable").inner_text().startswith("45 min")
    assert page.locator("#time-bar .seg.non-billable").inner_text().startswith("90 min")
    assert "6 of 9 at risk" in page.inner_text("#time-summary")
    assert "6 of 9 unit(s) are at risk" in page.inner_text("#hints")
    kinds = page.locator("#activities tbody td.kind").all_inner_texts()
    assert "non-billable" in kinds and "CM-MH" in kinds
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "reviewer-page-time.png"), full_page=True)


def test_empty_note_shows_an_error_without_calling_the_api(server_url, browser):
    page = browser.new_page()
    page.goto(server_url + "/")
    page.keyboard.press("Tab")  # the textarea is the first focusable control
    page.get_by_role("button", name="Check").click()
    assert "Paste a progress note first" in page.inner_text("#status")
    assert page.locator("#result").is_hidden()


def test_api_docs_render_offline_from_local_assets(server_url, browser):
    page = browser.new_page()
    external = []
    page.on(
        "request", lambda r: external.append(r.url) if not r.url.startswith(server_url) else None
    )
    page.goto(server_url + "/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=20000)
    assert "notecheck" in page.inner_text(".swagger-ui .info .title")
    assert page.locator(".opblock").count() >= 5
    assert external == []


def test_the_highlighted_note_keeps_every_character_and_the_staff_check_shows(server_url, browser):
    note = (
        "B: Clt has hx of stopping meds after d/c. Writer drove to Choate MHC 8:30-9:45.\n"
        "I: Met w/ unit SW and clt 9:45-10:30: planned his d/c to the Elm St CILA on 12/2."
    )
    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    page.goto(server_url + "/")
    page.get_by_label("Progress note").fill(note)
    page.get_by_label("Staff level (optional)").select_option("RSA")
    page.get_by_role("button", name="Check").click()
    page.wait_for_selector("#result:not([hidden])", timeout=20000)
    # the space between two sections ("d/c. Writer") is shown, not dropped
    assert page.locator("#highlighted").text_content() == note
    assert "at least an MHP (000 Q61)" in page.inner_text("#result")


def test_reviewer_checks_under_another_profile(server_url, browser):
    page = browser.new_page(viewport={"width": 1100, "height": 1300})
    page.goto(server_url + "/")
    page.get_by_label("Progress note").fill(
        "Mbr is a long-term resident at Sunrise Nursing Center. Met w/ mbr and the NF social "
        "worker to plan her move to a 1BR apartment 1:00-1:45."
    )
    page.get_by_label("Rule profile").select_option("ok-t1017")
    codes = page.locator("#billed-code option").all_inner_texts()
    assert codes[1:] == ["T1017"]
    assert page.get_by_label("Staff level (optional)").is_disabled()
    page.get_by_label("Billed as (optional)").select_option("T1017")
    page.get_by_role("button", name="Check").click()
    page.wait_for_selector("#result:not([hidden])", timeout=20000)
    assert page.inner_text("#label-badge") == "NON-BILLABLE"
    assert "profile ok-t1017" in page.inner_text("#versions")
    rules = page.locator("#highlighted mark").evaluate_all("ms => ms.map(m => m.dataset.rule)")
    assert "residence.nursing_facility" in rules
    page.get_by_label("Rule profile").select_option("il132")
    page.get_by_role("button", name="Check").click()
    page.wait_for_selector("#versions:has-text('profile il132')", timeout=20000)
    assert page.inner_text("#label-badge") == "CM-TLA"
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "reviewer-page-profile.png"), full_page=True)


def test_a_failed_or_stale_check_clears_the_previous_verdict(server_url, browser):
    page = browser.new_page(viewport={"width": 1100, "height": 1000})
    page.goto(server_url + "/")
    page.get_by_label("Progress note").fill("CM left VM for clt's PCP re: appt.")
    page.get_by_role("button", name="Check").click()
    page.wait_for_selector("#result:not([hidden])", timeout=20000)
    # an edit takes the old verdict away at once
    page.get_by_label("Progress note").fill("CM advocated w/ the DHS worker for clt's SNAP.")
    assert page.locator("#result").is_hidden()
    assert "press Check again" in page.inner_text("#status")
    # a check the server refuses (a note over the limit) leaves no verdict on screen
    page.get_by_role("button", name="Check").click()
    page.wait_for_selector("#result:not([hidden])", timeout=20000)
    page.get_by_label("Progress note").fill("x " * 10_001)
    page.get_by_role("button", name="Check").click()
    page.wait_for_selector("#status.error", timeout=20000)
    assert "Could not check the note" in page.inner_text("#status")
    assert page.locator("#result").is_hidden()


def test_highlights_fall_on_the_right_words_after_emoji(server_url, browser):
    note = "😀👍🏽 Clt happy today. 🚗 Transported clt to the pharmacy. CM left VM for her PCP."
    page = browser.new_page(viewport={"width": 1100, "height": 1200})
    page.goto(server_url + "/")
    page.get_by_label("Progress note").fill(note)
    page.get_by_role("button", name="Check").click()
    page.wait_for_selector("#result:not([hidden])", timeout=20000)
    marks = page.locator("#highlighted mark")
    texts = {
        marks.nth(i).get_attribute("data-rule"): marks.nth(i).inner_text()
        for i in range(marks.count())
    }
    assert texts["transport.transporting"] == "Transported clt"
    assert texts["contact.voicemail_left"] == "left VM"
    assert page.locator("#highlighted").text_content() == note
    # a highlight's detail is reachable by keyboard, not only by hovering
    page.locator("#highlighted mark[data-rule='transport.transporting']").focus()
    assert "Transporting the client" in page.inner_text("#mark-detail")
    # "Why" has one line per phrase with its rule and source; "What to fix" speaks plain words
    assert any(
        line.startswith("“Transported clt” — Transporting the client")
        for line in page.locator("#evidence-list li").all_inner_texts()
    )
    fixes = page.inner_text("#hints")
    assert "transport.transporting" not in fixes
    assert "No goal or objective" in fixes  # a failing documentation check is listed too


def test_the_page_fits_a_390_pixel_phone(server_url, browser):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(server_url + "/")
    page.get_by_label("Progress note").fill(
        "Goal: clt will keep SNAP with CM advocacy.\nD: Met clt at DHS 9:00-11:15. Waited in the "
        "lobby approx 90 min while clt was called. CM advocated with the caseworker to expedite "
        "her SNAP recertification_and_interview_scheduling_request.\nP: CM will transport clt to SSA."
    )
    page.get_by_label("Minutes billed (optional)").fill("135")
    page.get_by_role("button", name="Check").click()
    page.wait_for_selector("#result:not([hidden])", timeout=20000)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "reviewer-page-phone.png"), full_page=True)


def test_the_batch_report_reads_on_a_desktop_and_a_phone(browser, tmp_path):
    import io

    from ehr_export import rows, write_csv

    from notecheck.batch import render_report, run_batch

    summary = run_batch(write_csv(tmp_path / "week.csv", rows()), io.StringIO(), ledger=None)
    report = tmp_path / "week.html"
    report.write_text(render_report(summary), encoding="utf-8")
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    for name, width in (("desktop", 1280), ("phone", 390)):
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto(report.as_uri())
        assert page.locator("#staff tbody tr").count() == 6  # one row per staff member
        at_stake = [
            int(t or 0)
            for t in page.locator("#mismatches tbody tr td:nth-child(6)").all_inner_texts()
        ]
        assert len(at_stake) > 5 and at_stake == sorted(at_stake, reverse=True)
        assert page.locator("svg[aria-label^='Notes per week'] rect.bar.nb").count() == 3  # weeks
        # nothing but the tables' own scroll areas is wider than the screen
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.locator("input[data-table='staff']").fill(summary["staff"] and "Dana")
        assert page.locator("#staff tbody tr:not([hidden])").count() == 1
        page.screenshot(path=str(SCREENSHOT_DIR / f"batch-report-{name}.png"), full_page=True)
        page.close()
