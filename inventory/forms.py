"""Input validation for the inventory pages. Secrets are write-only: never rendered back."""

from __future__ import annotations

from django import forms

from channels.forms import SecretInput

from .models import DataFormat, Frequency, InventorySource, Pagination, Product, SourceKind

MAX_UPLOAD_BYTES = 20 * 1024 * 1024

# Which fields each kind uses, for validation and for the form's sections.
KIND_FIELDS = {
    SourceKind.REST_API: ("url", "auth_header", "auth_token", "pagination", "next_link_path", "page_param"),
    SourceKind.WEBHOOK: ("webhook_auth", "webhook_header", "webhook_secret"),
    SourceKind.FTP: ("host", "port", "username", "password", "remote_path"),
    SourceKind.SFTP: ("host", "port", "username", "password", "private_key", "remote_path", "host_key"),
}
SECRET_FIELDS = ("auth_token", "password", "private_key", "webhook_secret")


class SourceForm(forms.ModelForm):
    """One form for every kind; the page groups the fields by kind and `clean` checks that the
    chosen kind has what it needs. On edit, an empty secret keeps the stored one."""

    class Meta:
        model = InventorySource
        fields = [
            "name",
            "kind",
            "frequency_minutes",
            "mapping_mode",
            "data_format",
            "sku_field",
            "quantity_field",
            "json_list_path",
            "delimiter",
            "encoding",
            "url",
            "auth_header",
            "auth_token",
            "pagination",
            "next_link_path",
            "page_param",
            "host",
            "port",
            "username",
            "password",
            "private_key",
            "remote_path",
            "host_key",
            "webhook_auth",
            "webhook_header",
            "webhook_secret",
        ]
        labels = {
            "frequency_minutes": "Sync frequency",
            "mapping_mode": "SKU mapping",
            "data_format": "Format",
            "sku_field": "SKU field / column",
            "quantity_field": "Quantity field / column",
            "json_list_path": "JSON path to the list",
            "url": "Endpoint URL",
            "auth_header": "Auth header name",
            "auth_token": "Auth token",
            "next_link_path": "Next link path (JSON)",
            "page_param": "Page parameter",
            "remote_path": "Remote path or glob",
            "host_key": "Pinned host key",
            "webhook_auth": "Authentication",
            "webhook_header": "Header",
            "webhook_secret": "Secret",
        }
        help_texts = {
            "auth_token": "Sent as the header's value, e.g. “Bearer abc…”. Leave empty to keep the stored one.",
            "password": "Leave empty to keep the stored one.",
            "private_key": "SFTP: key authentication instead of the password. Leave empty to keep the stored one.",
            "host_key": "Empty: the first server key seen is pinned and checked on every later connection.",
            "webhook_secret": "The shared token, or the HMAC key. Leave empty to keep the stored one.",
            "delimiter": "Use \\t for tab-separated files.",
        }
        widgets = {
            "auth_token": SecretInput(),
            "password": SecretInput(),
            "webhook_secret": SecretInput(),
            "private_key": forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
            "host_key": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.editing = bool(self.instance and self.instance.pk)
        self.fields["frequency_minutes"].choices = Frequency.choices
        if self.editing:
            self.initial["private_key"] = ""  # write-only, like the other secrets
        for name in SECRET_FIELDS:
            self.fields[name].required = False
        # Required for their kind only (checked in clean); the page shows them without "(optional)".
        for name in ("url", "host", "remote_path", "webhook_secret", "webhook_header"):
            self.fields[name].kind_required = True

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        stored = self.instance if self.editing else None

        def need(name: str, message: str) -> None:
            if not data.get(name) and not (stored and name in SECRET_FIELDS and getattr(stored, name)):
                self.add_error(name, message)

        if kind == SourceKind.REST_API:
            need("url", "A REST source needs the endpoint URL.")
            if data.get("pagination") == Pagination.PAGE_NUMBER and not data.get("page_param"):
                self.add_error("page_param", "Name the page-number query parameter.")
        elif kind in (SourceKind.FTP, SourceKind.SFTP):
            need("host", "A file source needs the server's host name.")
            need("remote_path", "Give the file's path or a glob such as /outbound/stock_*.csv.")
        elif kind == SourceKind.WEBHOOK:
            need("webhook_secret", "A webhook source needs a secret: unsigned pushes are refused.")
            if not data.get("webhook_header"):
                self.add_error("webhook_header", "Name the header that carries the token or signature.")
        if data.get("data_format") == DataFormat.CSV and not data.get("delimiter"):
            self.add_error("delimiter", "CSV needs a delimiter.")
        if kind == SourceKind.WEBHOOK:
            data["frequency_minutes"] = Frequency.MANUAL
        return data

    def service_values(self) -> dict:
        """cleaned_data as keyword arguments for the services (secrets left empty are dropped on
        edit by the service, which keeps the stored ones)."""
        values = {name: self.cleaned_data.get(name) for name in self.Meta.fields}
        for name in ("url", "auth_header", "next_link_path", "page_param", "host", "username", "remote_path"):
            values[name] = (values[name] or "").strip()
        for name in ("json_list_path", "host_key", "webhook_header", "sku_field", "quantity_field", "encoding"):
            values[name] = (values[name] or "").strip()
        for name in SECRET_FIELDS:
            values[name] = values[name] or ""
        return values


class MappingForm(forms.Form):
    external_code = forms.CharField(max_length=255, label="External code")
    sku = forms.CharField(max_length=255, label="Our SKU")

    def clean_external_code(self):
        return self.cleaned_data["external_code"].strip()

    def clean_sku(self):
        sku = self.cleaned_data["sku"].strip()
        product = Product.objects.filter(sku=sku).first()
        if product is None:
            raise forms.ValidationError(f"No product with SKU {sku}. Create it first.")
        self.product = product
        return sku


class CsvUploadForm(forms.Form):
    file = forms.FileField(label="CSV file")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError("The file is larger than 20 MB.")
        return upload


class ProductForm(forms.Form):
    sku = forms.CharField(max_length=255, label="SKU")
    name = forms.CharField(max_length=255, required=False)
    barcode = forms.CharField(max_length=64, required=False)

    def clean_sku(self):
        sku = self.cleaned_data["sku"].strip()
        if Product.objects.filter(sku=sku).exists():
            raise forms.ValidationError("A product with this SKU already exists.")
        return sku


class ChannelStockForm(forms.Form):
    push_enabled = forms.BooleanField(required=False, label="Push stock")
    safety_buffer = forms.IntegerField(min_value=0, max_value=1_000_000, initial=0, label="Safety buffer")


class ListingForm(forms.Form):
    channel = forms.IntegerField()
    listed = forms.BooleanField(required=False)
