"""The console page and the analytics page, for staff only."""

from __future__ import annotations

import csv
from datetime import date

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from chatbot import analytics
from chatbot.admin.conversations import spreadsheet_safe
from chatbot.console import charts, permissions, selectors

MAX_DAYS = 366


@staff_member_required
def console(request: HttpRequest) -> HttpResponse:
    """The live console; everything live arrives over ``ws/console/``."""
    granted = permissions.granted(request.user)
    if not granted:
        # Logged-in staff, but without the view permission: a login page would
        # only send them round in a circle.
        raise PermissionDenied("You don't have permission to see conversations")
    return render(
        request,
        "chatbot/console/console.html",
        {
            "canned_responses": selectors.canned_responses(),
            "agents": selectors.agents() if "assign" in granted else [],
            "granted": granted,
        },
    )


def _period(request: HttpRequest) -> tuple[date, date, str]:
    """The requested days, or the last 30; a bad value falls back with a notice."""
    default_start, default_end = analytics.default_period()
    try:
        start = date.fromisoformat(
            request.GET.get("start") or default_start.isoformat()
        )
        end = date.fromisoformat(request.GET.get("end") or default_end.isoformat())
    except ValueError:
        return default_start, default_end, "Dates are YYYY-MM-DD; showing 30 days."
    if start > end:
        start, end = end, start
    if (end - start).days >= MAX_DAYS:
        return end.replace(year=end.year - 1), end, "Showing at most one year."
    return start, end, ""


@staff_member_required
def analytics_page(request: HttpRequest) -> HttpResponse:
    start, end, notice = _period(request)
    # The questions customers asked are transcript text: only for those who may
    # read transcripts.
    report = analytics.report(
        start, end, with_text=request.user.has_perm(permissions.VIEW)
    )
    if request.GET.get("format") == "csv":
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = (
            f'attachment; filename="concierge-analytics-{start}-{end}.csv"'
        )
        csv.writer(response).writerows(
            [spreadsheet_safe(cell) for cell in row]
            for row in analytics.report_rows(report)
        )
        return response
    intent_chart = charts.horizontal_bars(
        [
            (
                s.intent,
                s.messages,
                f"{s.messages} · {s.mean_confidence:.2f}"
                if s.mean_confidence is not None
                else str(s.messages),
            )
            for s in report.intents[:25]
        ],
        label="Bot messages per intent, with mean confidence",
    )
    daily_chart = charts.daily_columns(report.daily, label="Conversations per day")
    return render(
        request,
        "chatbot/console/analytics.html",
        {
            "report": report,
            "notice": notice,
            "intent_chart": intent_chart,
            "daily_chart": daily_chart,
        },
    )
