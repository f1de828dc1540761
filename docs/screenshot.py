#!/usr/bin/env python3
"""Takes docs/screenshot.png: the item list of a throwaway Papilio, signed in, in Chinese.

Usage: python3 docs/screenshot.py [PAPILIO_BINARY]   (default target/debug/papilio)

Needs chromium and chromium-driver (Debian packages) and, for the Chinese text, a CJK font
such as fonts-wqy-microhei. It starts the server on a fresh SQLite file in a temporary folder,
drives headless Chromium through chromedriver's WebDriver protocol (standard library only),
enters a few items through the form as a user would, and saves the list page.
"""

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "docs", "screenshot.png")
PASSWORD = "screenshot-pass-1"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"

ITEMS = [
    ("FAN-100", "落地扇", "Floor fan", "manufactured", "85.5"),
    ("FAN-200", "台扇", "Desk fan", "manufactured", "62"),
    ("MTR-12V", "直流电机 12V", "DC motor 12 V", "purchased", "18.4"),
    ("BLD-300", "扇叶 300mm", "Fan blade 300 mm", "purchased", "3.2"),
    ("GRL-01", "前网罩", "Front grille", "outsourced", "5.75"),
    ("PKG-CTN", "包装纸箱", "Carton", "purchased", "1.8"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, what):
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{what} did not listen on port {port}")


class WebDriver:
    def __init__(self, port, profile):
        self.base = f"http://127.0.0.1:{port}"
        args = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--window-size=1280,800",
            "--hide-scrollbars", f"--user-data-dir={profile}",
        ]
        caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": "/usr/bin/chromium", "args": args}}}}
        self.session = self.call("POST", "/session", caps)["sessionId"]
        self.call("POST", f"/session/{self.session}/timeouts", {"implicit": 10000})

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.load(r)["value"]

    def s(self, path, body=None, method="POST"):
        return self.call(method, f"/session/{self.session}{path}", body)

    def goto(self, url):
        self.s("/url", {"url": url})

    def find(self, css):
        found = self.s("/element", {"using": "css selector", "value": css})
        if ELEMENT not in found:
            sys.exit(f"{css}: {found}")
        return found[ELEMENT]

    def type(self, css, text):
        element = self.find(css)
        self.s(f"/element/{element}/clear", {})
        self.s(f"/element/{element}/value", {"text": text})

    def click(self, css):
        self.s(f"/element/{self.find(css)}/click", {})

    def quit(self):
        self.call("DELETE", f"/session/{self.session}")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/debug/papilio")
    with tempfile.TemporaryDirectory() as tmp:
        app_port, driver_port = free_port(), free_port()
        server = subprocess.Popen(
            [binary, "--database", f"sqlite://{tmp}/shot.db?mode=rwc", "serve",
             "--listen", f"127.0.0.1:{app_port}", "--admin-password", PASSWORD],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        driver = subprocess.Popen(["/usr/bin/chromedriver", f"--port={driver_port}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(app_port, "papilio")
            wait_port(driver_port, "chromedriver")
            base = f"http://127.0.0.1:{app_port}"
            wd = WebDriver(driver_port, os.path.join(tmp, "profile"))
            try:
                wd.goto(f"{base}/login")
                wd.type("#username", "admin")
                wd.type("#password", PASSWORD)
                wd.click("#login-submit")
                wd.find("#logout")
                for code, name_zh, name_en, kind, cost in ITEMS:
                    wd.goto(f"{base}/m/item/new")
                    wd.type("#f-code", code)
                    wd.type("#f-name_zh", name_zh)
                    wd.type("#f-name_en", name_en)
                    wd.click(f"#f-item_type option[value='{kind}']")
                    wd.type("#f-base_unit", "PCS")
                    wd.type("#f-standard_cost", cost)
                    wd.click("#save")
                    wd.find("a[href$='/audit']")
                wd.goto(f"{base}/m/item")
                wd.find("table.list")
                png = base64.b64decode(wd.s("/screenshot", method="GET"))
            finally:
                wd.quit()
            with open(OUT, "wb") as f:
                f.write(png)
            print(f"wrote {OUT} ({len(png)} bytes)")
        finally:
            for p in (driver, server):
                p.terminate()
                p.wait(timeout=10)


if __name__ == "__main__":
    main()
