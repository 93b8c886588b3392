"""The technician view (/kiosk/status) in real Chromium, checked against /health, refreshed live."""

import time

import browser
from playwright.sync_api import sync_playwright


def test_status_page_shows_health(kiosk, shots):
    with sync_playwright() as playwright:
        context = browser.launch(playwright)
        try:
            page = context.new_page()
            page.set_viewport_size({"width": 1920, "height": 1080})
            errors = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(kiosk.url("/kiosk/status"))
            rows = page.locator("#workers tbody tr")
            deadline = time.monotonic() + 20
            while rows.count() == 0 and time.monotonic() < deadline:
                page.wait_for_timeout(200)
            health = kiosk.health()
            assert rows.count() == len(health["workers"])
            for worker in health["workers"]:
                row = page.locator(f"#workers tr[data-worker='{worker['name']}']")
                cells = row.locator("td").all_inner_texts()
                assert cells[0] == worker["name"] and cells[1] == worker["state"]
                assert cells[2] == str(worker["pid"]) and cells[5] == str(worker["restarts"])
                assert cells[6].endswith("MB")
            assert "正常" in page.locator("#overall").inner_text()
            camera = page.locator("#camera").inner_text()
            assert "capturing" in camera and "fps" in camera
            # refreshed live: the "updated" line changes; a recognition event of the kiosk's camera appears
            first = page.locator("#updated").inner_text()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and (
                page.locator("#updated").inner_text() == first or page.locator("#events img").count() == 0
            ):
                page.wait_for_timeout(300)
            assert page.locator("#updated").inner_text() != first
            assert page.locator("#events img").count() >= 1, page.locator("#events").inner_text()
            thumbnail = page.locator("#events img").first.get_attribute("src")
            assert thumbnail.startswith("data:image/jpeg;base64,")
            page.screenshot(path=str(shots / "09-status.png"))
        finally:
            context.close()
    assert not errors, errors
