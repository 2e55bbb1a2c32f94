"""The HTML leaderboard in a real headless browser (Debian's chromium, driven by Selenium)."""

import shutil
from pathlib import Path

import pytest

from recsys.report.publish import write_leaderboard
from tests.report.constructed import make_store

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture
def page(tmp_path):
    store = make_store(tmp_path, {"Better": 0.02, "Same": 0.0, "Worse": -0.01})
    write_leaderboard(store, tmp_path / "lb", "t", "Base", metrics=("ndcg@10",))
    return tmp_path / "lb" / "t.html"


def test_page_is_self_contained(page):
    text = page.read_text()
    assert "data:image/png;base64," in text and "http://" not in text and "https://" not in text


@pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="chromium and chromedriver not installed (.ci/run installs them)")
def test_sort_filter_and_provenance_in_headless_chromium(page, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        driver.set_window_size(1000, 1400)
        driver.get(page.as_uri())

        def models():
            return [r.find_elements(By.TAG_NAME, "td")[0].text for r in driver.find_elements(By.CSS_SELECTOR, "tbody tr")
                    if r.is_displayed()]

        assert models() == ["Better", "Base", "Same", "Worse"]  # by mean, descending
        headers = driver.find_elements(By.CSS_SELECTOR, "thead th")
        metric_col = [h.text for h in headers].index("ndcg@10")
        header = headers[metric_col]
        header.click()
        assert models()[0] == "Worse" and models()[-1] == "Better"  # ascending
        header.click()
        assert models()[0] == "Better"
        cell = driver.find_elements(By.CSS_SELECTOR, "tbody tr")[0].find_elements(By.TAG_NAME, "td")[metric_col]
        assert "†" in cell.text and "runs: Better-s1,Better-s2" in cell.get_attribute("title")
        assert "p = " in cell.get_attribute("title")
        driver.find_element(By.ID, "filter").send_keys("ett")
        assert models() == ["Better"]
        shot = Path(tmp_path / "leaderboard.png")
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        print(f"\nscreenshot: {shot}")
    finally:
        driver.quit()
