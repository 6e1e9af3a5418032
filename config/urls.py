from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("console/", include("chatbot.console.urls")),
    path("api/", include("api.urls")),
    path("", include("chatbot.urls")),
]
