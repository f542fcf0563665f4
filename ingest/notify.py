"""The "your data is ready" email, sent by the worker when an organization's backfill completes."""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage

from app.settings import Settings

log = logging.getLogger(__name__)


def ready_message(settings: Settings, org_name: str, organization_id: str) -> EmailMessage | None:
    """The email to send, or None when SMTP or recipients are not configured."""
    if not settings.smtp_host or not settings.notify_email:
        return None
    recipients = [r.strip() for r in settings.notify_email.split(",") if r.strip()]
    message = EmailMessage()
    message["Subject"] = f"Anthropic FinOps: data for {org_name} is ready"
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(recipients)
    message.set_content(
        f"The backfill of {org_name} (organization {organization_id}) has completed: the last "
        f"{settings.backfill_months} months of usage and cost are available in the dashboards, "
        f"and they are refreshed every {settings.sync_interval_minutes} minutes from now on.\n\n"
        f"Open http://localhost:{settings.streamlit_port} to explore them.\n"
    )
    return message


def send_ready_email(settings: Settings, org_name: str, organization_id: str) -> bool:
    """Send the notice; failures are logged, never raised (the data is there either way)."""
    message = ready_message(settings, org_name, organization_id)
    if message is None:
        return False
    assert settings.smtp_host is not None
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=15) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username and settings.smtp_password:
                smtp.login(settings.smtp_username, settings.smtp_password)
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("Could not send the data-ready email for %s: %s", org_name, exc)
        return False
    log.info("Sent the data-ready email for %s", org_name)
    return True
