"""The admin page ``{prefix}/admin`` and its JSON twin ``{prefix}/admin/settings``.

- :mod:`~wa_addon.admin.auth`: who may (the host's hook, the admin token, or no one), the gate
  (Falcon middleware) that enforces it, and CSRF.
- :mod:`~wa_addon.admin.views`: what is shown and changed, without HTTP.
- :mod:`~wa_addon.admin.resources`: the Falcon resources; ``create_app`` wires them.
"""

from wa_addon.admin.auth import AdminCheck, AdminGate
from wa_addon.admin.resources import (
    AdminPage,
    AdminSite,
    DeadLetterForm,
    Login,
    Logout,
    PhoneRevoke,
    PhonesForm,
    RetryForm,
    SettingsJSON,
    SwitchesForm,
)

__all__ = [
    "AdminCheck",
    "AdminGate",
    "AdminPage",
    "AdminSite",
    "DeadLetterForm",
    "Login",
    "Logout",
    "PhoneRevoke",
    "PhonesForm",
    "RetryForm",
    "SettingsJSON",
    "SwitchesForm",
]
