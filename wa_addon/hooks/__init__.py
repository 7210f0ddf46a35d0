"""Host events: intake over HTTP or emit(), and turning them into notifications.

"Hooks" here are the host's events (``docs/hooks.md``), not Falcon's
``@before`` / ``@after`` hooks, which this package never uses.

- :mod:`.signing`: the ``X-WA-Signature`` header.
- :mod:`.events`: the envelope, the event types and their data.
- :mod:`.intake` / :mod:`.resource`: checking and queueing (web process).
- :mod:`.notify`: event -> lifecycle step -> notifications (worker).

What a notification is and who receives it is :mod:`wa_addon.notifications`
(commands build them too).
"""
