"""Telling staff: a Notification row (shown in the app) and an e-mail to staff with an address."""

import logging

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db.models import F
from django.utils import timezone

from .models import Notification

logger = logging.getLogger(__name__)


def notification_send(
    *, title: str, message: str = "", level: str = Notification.Level.ERROR, link: str = "", dedupe_key: str = ""
) -> Notification:
    """Create a notification, or bump the unread one with the same dedupe key (no storms)."""
    now = timezone.now()
    if dedupe_key:
        existing = Notification.objects.filter(dedupe_key=dedupe_key, read_at__isnull=True).first()
        if existing is not None:
            Notification.objects.filter(pk=existing.pk).update(
                count=F("count") + 1, last_seen_at=now, message=message or existing.message
            )
            existing.refresh_from_db()
            return existing
    notification = Notification.objects.create(
        title=title[:200], message=message, level=level, link=link, dedupe_key=dedupe_key
    )
    _email_staff(notification)
    return notification


def _email_staff(notification: Notification) -> None:
    recipients = list(
        get_user_model().objects.filter(is_staff=True, is_active=True).exclude(email="").values_list("email", flat=True)
    )
    if not recipients:
        return
    try:
        send_mail(f"[Fenicia] {notification.title}", notification.message or notification.title, None, recipients)
    except Exception:  # a mail server outage must not break the sync that reported a problem
        logger.exception("Could not e-mail notification %s", notification.pk)


def notifications_mark_read(*, ids: list[int] | None = None) -> int:
    qs = Notification.objects.filter(read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())
