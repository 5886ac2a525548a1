from django.apps import AppConfig


class FeniciaConfig(AppConfig):
    name = "fenicia"
    verbose_name = "Fenicia"
