"""report.html in a real headless browser (Debian's chromium): its tables and figures are there, the figures
decode, user strings stay text, and it opens from a file with no server."""
import json
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from ganbench.report import build_report
from test_report import baseline_record, write_baselines, write_trial

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium; "
                                                         ".ci/run installs it)")
# Test-only probe, appended to a copy of the report: records each image's decoded width once the page has loaded.
PROBE = ("<script>window.addEventListener('load', () => {for (const i of document.images) "
         "{i.setAttribute('data-decoded-width', i.naturalWidth)} document.body.setAttribute('data-loaded', '1')})"
         "</script>")
EVIL = "<b>x&y</b>"


class _Dom(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.images, self.text, self.body = [], [], [], {}

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs))
        if tag == "body":
            self.body = dict(attrs)

    def handle_data(self, data):
        self.text.append(data)


def _chromium(tmp_path, *args):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
           "--disable-background-networking", f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    res = tmp_path_factory.mktemp("html") / "r"
    write_baselines(res, baseline_record(), baseline_record("grid25", noise=18.0, real=25.0))
    for seed in range(3):
        for dataset, good, bad in (("digits", 20.0, 450.0), ("grid25", 24.5, 24.0)):
            write_trial(res, dataset=dataset, gan="ns", seed=seed, score=good + seed)
            write_trial(res, dataset=dataset, gan=EVIL, seed=seed, score=bad)
    from ganbench.environment import collect_environment

    (res / "environment.json").write_text(json.dumps(collect_environment()))
    build_report(res)
    return res / "report"


def test_report_html_in_headless_chromium(report, tmp_path):
    html = (report / "report.html").read_text()
    assert "src=\"http" not in html and "<link" not in html  # nothing to fetch: opens with no server
    probed = tmp_path / "probed.html"
    probed.write_text(html.replace("</body>", PROBE + "</body>"))
    run = _chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", probed.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    dom = _Dom()
    dom.feed(run.stdout)
    assert dom.body.get("data-loaded") == "1"
    md = (report / "report.md").read_text()
    assert dom.tags.count("table") == md.count("\n|---") >= 6  # every Markdown table is an HTML table
    assert len(dom.images) == md.count("![") >= 10
    assert all(int(img["data-decoded-width"]) > 0 for img in dom.images)  # every figure decodes
    assert all(img["src"].startswith("data:image/png;base64,") for img in dom.images)
    text = "".join(dom.text)
    assert "Across datasets" in text and "Which differences are decided" in text and "not learned" in text
    assert EVIL in text and "b" not in [t for t in dom.tags if t == "b"]  # the user string stayed text


def test_report_html_screenshot_shows_content(report, tmp_path):
    shot = tmp_path / "shot.png"
    run = _chromium(tmp_path, "--window-size=1280,2400", f"--screenshot={shot}", (report / "report.html").as_uri())
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    import matplotlib.pyplot as plt

    pixels = plt.imread(shot)[..., :3]
    assert pixels.shape[:2] == (2400, 1280)
    assert (pixels < 0.5).mean() > 0.01 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # text and figures
