"""An email sender (recording instead of sending); some domains bounce."""

from __future__ import annotations

from dataclasses import dataclass, field


class EmailBouncedError(Exception):
    """The receiving server refused the message."""


@dataclass
class EmailService:
    """Records sent emails; addresses at ``bouncing_domains`` fail.

    Attributes:
        sent: ``(to, subject)`` of every email sent.
        bouncing_domains: Domains whose servers refuse mail.
    """

    sent: list[tuple[str, str]] = field(default_factory=list)
    bouncing_domains: set[str] = field(default_factory=lambda: {"bounce.example"})

    async def send(self, to: str, subject: str) -> None:
        """Send one email, or raise :class:`EmailBouncedError`."""
        if to.rsplit("@", 1)[-1] in self.bouncing_domains:
            raise EmailBouncedError(f"{to}: mailbox unavailable")
        self.sent.append((to, subject))
