from __future__ import annotations

from django.urls import path

from chatbot.console import views

app_name = "console"

urlpatterns = [
    path("", views.console, name="home"),
    path("analytics/", views.analytics_page, name="analytics"),
]
