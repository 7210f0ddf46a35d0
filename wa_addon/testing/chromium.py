"""Debian's Chromium for the browser tests and the screenshots script: where it is, how it is started.

Playwright drives it (``executable_path=CHROMIUM, args=FLAGS``) and never
downloads a browser; ``.ci/run`` installs the package.
"""

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]  # --headless and a fresh --user-data-dir: Playwright's own
