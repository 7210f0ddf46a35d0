"""The HTTP client sessions the add-on keeps to the host and to the Graph API."""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter


def keepalive_session(connections: int = 10) -> requests.Session:
    """A session keeping up to ``connections`` connections alive, ignoring proxy variables.

    ``trust_env=False``: requests otherwise re-reads the environment's proxy
    settings on every call (measured: a visible share of each call).  A
    deployment behind a proxy passes its own session.
    """
    session = requests.Session()
    session.trust_env = False
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(10, connections))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
