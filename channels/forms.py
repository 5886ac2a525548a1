"""Input validation for the channel pages. Secrets are write-only: never rendered back."""

from __future__ import annotations

from datetime import datetime, time

from django import forms
from django.utils import timezone

from .adapters import supported_kinds
from .models import ChannelKind


def _kind_choices():
    labels = dict(ChannelKind.choices)
    return [(kind, labels.get(kind, kind)) for kind in supported_kinds()]


class SecretInput(forms.PasswordInput):
    """A password box that never echoes the stored or submitted value back into the page."""

    def __init__(self, attrs=None):
        super().__init__(attrs={"autocomplete": "off", **(attrs or {})}, render_value=False)


class ChannelCreateForm(forms.Form):
    kind = forms.ChoiceField(choices=_kind_choices)
    name = forms.CharField(max_length=120)
    shop = forms.CharField(
        max_length=255, label="Shop domain", widget=forms.TextInput(attrs={"placeholder": "your-shop.myshopify.com"})
    )
    access_token = forms.CharField(max_length=500, widget=SecretInput())
    webhook_secret = forms.CharField(
        max_length=500, required=False, widget=SecretInput(), help_text="Used to verify webhook signatures."
    )
    api_base_url = forms.URLField(
        required=False,
        label="API base URL",
        assume_scheme="https",
        help_text="Leave empty to talk to the channel itself (set it for a sandbox or proxy).",
    )
    poll_interval_minutes = forms.IntegerField(min_value=1, max_value=1440, initial=15, label="Poll interval (minutes)")

    def clean_shop(self):
        shop = self.cleaned_data["shop"].strip().lower()
        for prefix in ("https://", "http://"):
            shop = shop.removeprefix(prefix)
        return shop.rstrip("/")

    def credentials(self) -> dict[str, str]:
        return {"shop": self.cleaned_data["shop"], "access_token": self.cleaned_data["access_token"]}


class ChannelCredentialsForm(forms.Form):
    """Reconnect: a new access token (required), optionally a new shop domain and webhook secret."""

    shop = forms.CharField(
        max_length=255, required=False, label="Shop domain", help_text="Leave empty to keep the current one."
    )
    access_token = forms.CharField(max_length=500, widget=SecretInput())
    webhook_secret = forms.CharField(
        max_length=500, required=False, widget=SecretInput(), help_text="Leave empty to keep the current secret."
    )

    clean_shop = ChannelCreateForm.clean_shop


class SyncOrdersForm(forms.Form):
    since = forms.DateField(
        required=False,
        label="Orders updated since",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Empty: the last 30 days.",
    )

    def clean_since(self):
        since = self.cleaned_data.get("since")
        if since and since > timezone.localdate():
            raise forms.ValidationError("Pick a day that is not in the future.")
        return since

    def since_datetime(self) -> datetime | None:
        """The start of the chosen day in the site's time zone."""
        since = self.cleaned_data.get("since")
        if since is None:
            return None
        return timezone.make_aware(datetime.combine(since, time.min))
