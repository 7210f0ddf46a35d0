"""wa_addon: a WhatsApp add-on for recharge and mobile-banking reseller servers.

``create_app(settings, host)`` gives the Falcon WSGI app, ``mount()`` serves it
under a prefix inside a host's WSGI app, ``Addon`` bundles both for a Python
host.  See README.md.
"""

__version__ = "0.1.0"


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    # Lazy, so `import wa_addon.settings` does not pull in falcon and redis.
    if name in {"create_app", "mount", "Addon"}:
        from wa_addon import app

        return getattr(app, name)
    raise AttributeError(name)
