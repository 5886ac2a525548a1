from .models import Notification


def navigation(request):
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"unread_notifications": Notification.objects.filter(read_at__isnull=True).count()}
