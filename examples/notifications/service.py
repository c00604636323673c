"""The notifications service."""

from __future__ import annotations

from typing import Any

from momentum import Service
from momentum.runtime.ports import Transport
from notifications.email import EmailService
from notifications.handlers import Directory


def create_service(
    transport: Transport | None = None, email: EmailService | None = None, **settings: Any
) -> Service:
    """Build the service with its email sender and directory registered."""
    service = Service(
        name="notifications",
        domain="Notifications",
        packages=["notifications"],
        transport=transport,
        **settings,
    )
    service.register(EmailService, email or EmailService())
    service.register(Directory, Directory())
    return service
