"""Chat commands: grammar, registry, the admin's and the resellers' commands.

Importing this package registers every command.
"""

from wa_addon.commands import admin, catalog, common, reseller, service  # noqa: F401  (registers the commands)
from wa_addon.commands.dispatch import handle

__all__ = ["handle"]
