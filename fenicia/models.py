"""Cross-cutting models every app may use. Nothing here imports the apps."""

from django.db import models


class Notification(models.Model):
    """Something staff should look at: a failed sync, a channel that needs reconnecting.

    Repeats of the same problem (same `dedupe_key`) while it is unread bump `count` instead of
    piling up, so a failing channel produces one notification, not one per poll.
    """

    class Level(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"

    level = models.CharField(max_length=10, choices=Level.choices, default=Level.ERROR)
    title = models.CharField(max_length=200)
    message = models.TextField(blank=True)
    link = models.CharField(max_length=500, blank=True)
    dedupe_key = models.CharField(max_length=200, blank=True, db_index=True)
    count = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        indexes = [models.Index(fields=["read_at", "-last_seen_at"], name="notification_unread_idx")]

    def __str__(self) -> str:
        return self.title
