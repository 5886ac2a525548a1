from django.contrib.auth.decorators import login_required
from django.http import HttpResponse


@login_required
def dashboard(request):
    return HttpResponse("dashboard")


@login_required
def notification_list(request):
    return HttpResponse("notifications")


@login_required
def notifications_read(request):
    return HttpResponse("ok")
