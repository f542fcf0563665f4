"""Who is acting, and the rule that only admins change connections and users.

The pages hide admin actions from viewers, and these checks refuse them again in the service
layer, so a forged request or a forgotten button cannot bypass the role.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.models import Role


class PermissionDenied(PermissionError):
    """A viewer (or nobody) tried an admin action."""


@dataclass(frozen=True)
class Actor:
    """The person (or operator tool) on whose behalf a service runs."""

    email: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


# The `finops` command runs with the operator's access to the machine and its data directory.
OPERATOR = Actor(email="operator (finops CLI)", role=Role.ADMIN)


def require_admin(actor: Actor, action: str) -> None:
    if not actor.is_admin:
        raise PermissionDenied(f"Only admins can {action}; {actor.email} is a {actor.role}.")
