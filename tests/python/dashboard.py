"""Drives movieapp's dashboard in a real browser (Debian's chromium, through playwright).

usage: dashboard.py STEP URL [ARGS...]   (CHROMIUM names the browser)

  overview URL [SCREENSHOT]      loads with no console error, shows the four services
                                 serving; SCREENSHOT: a picture of the page
  trace URL NAME [SCREENSHOT]    the trace list shows an entry span NAME within 2 s; its
                                 waterfall nests the movie span's metadata and rating
                                 children in time; prints the spans as JSON
  unreachable URL INSTANCE       the instances page shows INSTANCE unreachable within two
                                 refreshes; prints the seconds it took
  listed URL TRACE               the trace list shows TRACE
  auth URL READER ADMIN          no token: the sign-in form and no data; the reader's
                                 token: refused; the admin's: the pages
  keys URL                       the pages are reached from the keyboard alone
  hold URL PAGE SECONDS          keeps PAGE open that long (scripts/bench-dashboard.sh)

Each step exits 0 when it holds, else 1 with why.
"""
import json
import os
import sys
import time
import urllib.parse

from playwright.sync_api import sync_playwright

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVICES = ["movie", "metadata", "rating", "auth"]


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def open_page(p, url):
    browser = p.chromium.launch(executable_path=os.environ["CHROMIUM"], headless=True, args=ARGS)
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    # Nothing is fetched from anywhere but the dashboard itself.
    origin = "{0.scheme}://{0.netloc}/".format(urllib.parse.urlsplit(url))
    elsewhere = []
    page.on("request", lambda r: elsewhere.append(r.url) if not r.url.startswith(origin) else None)
    page.goto(url)
    return browser, page, errors, elsewhere


def serving(page):
    """The services the overview shows, and what its summary says of each."""
    rows = page.locator("table[aria-label=Services] tbody tr")
    return {rows.nth(i).get_attribute("data-service"): rows.nth(i).inner_text() for i in range(rows.count())}


def step_overview(p, url, screenshot=None):
    browser, page, errors, elsewhere = open_page(p, url + "#/overview")
    deadline = time.time() + 10
    shown = {}
    while time.time() < deadline:
        shown = serving(page)
        if all(s in shown and "serving" in shown[s] for s in SERVICES):
            break
        page.wait_for_timeout(200)
    else:
        fail(f"the overview does not show the four services serving: {shown}")
    for s in SERVICES:
        if page.locator(f"svg.diagram g.node[data-service={s}]").count() != 1:
            fail(f"the diagram has no {s} node")
    # A second refresh, then the console.
    page.wait_for_timeout(1500)
    if screenshot:
        page.screenshot(path=screenshot, full_page=True)
    if errors:
        fail(f"console errors: {errors}")
    if elsewhere:
        fail(f"requests elsewhere: {elsewhere}")
    print(json.dumps(shown))
    browser.close()


def step_trace(p, url, name, screenshot=None):
    browser, page, errors, _ = open_page(p, url + "#/traces")
    start = time.time()
    row = page.locator(f"tr[data-name='{name}']").first
    try:
        row.wait_for(timeout=2000)
    except Exception:
        fail(f"no {name} in the trace list within 2 s: {page.locator('#content').inner_text()}")
    listed_after = time.time() - start
    row.locator("a").first.press("Enter")
    page.wait_for_selector(".span-row")
    page.wait_for_timeout(300)
    spans = page.eval_on_selector_all(
        ".span-row",
        """rows => rows.map(r => ({name: r.dataset.name, service: r.dataset.service, span: r.dataset.span,
            parent: r.dataset.parent, depth: Number(r.dataset.depth), start: Number(r.dataset.startUs),
            duration: Number(r.dataset.durationUs)}))""",
    )
    top = [s for s in spans if s["name"] == "MovieService/GetMovieDetails"]
    if len(top) != 1:
        fail(f"no single movie span in the waterfall: {spans}")
    movie = top[0]
    for child_name in ["MetadataService/GetMetadata", "RatingService/GetAggregatedRating"]:
        child = [s for s in spans if s["name"] == child_name]
        if len(child) != 1:
            fail(f"no {child_name} in the waterfall: {spans}")
        child = child[0]
        if child["parent"] != movie["span"] or child["depth"] != movie["depth"] + 1:
            fail(f"{child_name} is not shown under the movie span: {spans}")
        if child["start"] < movie["start"] - 1000 or child["start"] + child["duration"] > movie["start"] + movie["duration"] + 1000:
            fail(f"{child_name} is not within the movie span's time: {spans}")
    # A span's attributes open from the keyboard.
    first = page.locator(".span-row").first
    first.focus()
    page.keyboard.press("Enter")
    details = page.locator(".span-details").first
    if not details.is_visible() or "process" not in details.inner_text():
        fail("a span's attributes do not open")
    if screenshot:
        page.screenshot(path=screenshot, full_page=True)
    if errors:
        fail(f"console errors: {errors}")
    print(json.dumps({"listedAfter": listed_after, "spans": spans}))
    browser.close()


def step_unreachable(p, url, instance):
    browser, page, errors, _ = open_page(p, url + "#/instances")
    row = page.locator(f"tr[data-instance='{instance}']")
    row.wait_for(timeout=5000)
    start = time.time()
    while time.time() - start < 10:
        state = row.locator("td[data-state]").get_attribute("data-state")
        if state == "unreachable":
            if "unreachable" not in row.inner_text():
                fail("the state is not said in words")
            print(json.dumps({"seconds": time.time() - start}))
            browser.close()
            return
        page.wait_for_timeout(100)
    fail(f"{instance} still shows {state} after 10 s")


def step_listed(p, url, trace):
    browser, page, errors, _ = open_page(p, url + "#/traces")
    try:
        page.locator(f"tr[data-trace='{trace}']").wait_for(timeout=5000)
    except Exception:
        fail(f"trace {trace} is not listed: {page.locator('#content').inner_text()}")
    if errors:
        fail(f"console errors: {errors}")
    print("listed")
    browser.close()


def sign_in(page, token):
    page.fill("#token", token)
    page.press("#token", "Enter")


def step_auth(p, url, reader, admin):
    browser, page, errors, _ = open_page(p, url + "#/overview")
    page.locator("#login").wait_for(state="visible", timeout=5000)
    if page.locator("#main table, #main svg").count():
        fail("data shown without a token")
    if reader in page.url or admin in page.url:
        fail("a token is in the URL")
    sign_in(page, reader)
    page.wait_for_function("document.getElementById('login-error').textContent.includes('admin')", timeout=5000)
    if page.locator("#main table, #main svg").count():
        fail("data shown to a reader")
    sign_in(page, admin)
    deadline = time.time() + 10
    while time.time() < deadline:
        shown = serving(page)
        if all(s in shown for s in SERVICES):
            break
        page.wait_for_timeout(200)
    else:
        fail(f"the admin does not see the services: {page.locator('body').inner_text()}")
    if page.locator("#login").is_visible():
        fail("the sign-in form stays")
    for hash_ in ["#/traces", "#/logs"]:
        page.goto(url + hash_)
        page.locator("#main form.filters").wait_for(timeout=5000)
        if page.locator("#login").is_visible():
            fail(f"{hash_} asks for the token again")
    if admin in page.url:
        fail("a token is in the URL")
    print("admitted")
    browser.close()


def step_keys(p, url):
    browser, page, errors, _ = open_page(p, url + "#/overview")
    page.locator("svg.diagram").wait_for(timeout=5000)
    seen = []
    for _ in range(12):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("document.activeElement.textContent.trim()"))
        if seen[-1] == "Traces":
            page.keyboard.press("Enter")
            page.locator("form.filters").wait_for(timeout=5000)
            print(json.dumps(seen))
            browser.close()
            return
    fail(f"Tab never reached the Traces link: {seen}")


def step_hold(p, url, page_name, seconds):
    browser, page, errors, _ = open_page(p, url + "#/" + page_name)
    page.wait_for_timeout(float(seconds) * 1000)
    if errors:
        fail(f"console errors: {errors}")
    browser.close()


def main():
    if len(sys.argv) < 3:
        fail(__doc__)
    step, url, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    steps = {
        "overview": step_overview,
        "trace": step_trace,
        "unreachable": step_unreachable,
        "listed": step_listed,
        "auth": step_auth,
        "keys": step_keys,
        "hold": step_hold,
    }
    if step not in steps:
        fail(f"unknown step {step!r}")
    with sync_playwright() as p:
        steps[step](p, url, *rest)


if __name__ == "__main__":
    main()
