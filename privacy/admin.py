"""Admin pages of the privacy app.

Access and erasure requests: the record of each one done, a page to erase or
export by email address or customer id (erasure through a confirmation page that
lists what goes, like Django's delete confirmation), and the same two as actions
on the customer list. Only superusers and staff with "Can erase and export
customer data" see or do any of it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from chatbot.admin.conversations import CustomerAdmin
from chatbot.models import Customer
from privacy.erasure import erasure_plan, subject_erase
from privacy.export import Export, subject_export
from privacy.models import DataSubjectRequest, StaffAccess
from privacy.subjects import SubjectError, subject_find

PERMISSION = "privacy.erase_export_customer_data"


def may_handle_requests(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff and user.has_perm(PERMISSION))


def export_response(export: Export) -> HttpResponse:
    """The export as a zip download (data.json and transcript.html)."""
    response = HttpResponse(export.zip_bytes(), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{export.filename()}"'
    return response


class SubjectForm(forms.Form):
    """Names the person: an email address, or one customer record's id."""

    email = forms.EmailField(
        required=False,
        help_text="Every customer record that used this address, and their orders.",
    )
    customer = forms.IntegerField(
        required=False,
        min_value=1,
        label="Customer id",
        help_text="One customer record (the number in its admin page's address).",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("email")) == bool(data.get("customer")):
            raise forms.ValidationError(
                "Give an email address or a customer id (one of them)."
            )
        return data


@admin.register(DataSubjectRequest)
class DataSubjectRequestAdmin(admin.ModelAdmin):
    """The log of access and erasure requests done: read-only, never deleted."""

    list_display = [
        "created",
        "kind",
        "via",
        "requested_by_name",
        "named_by",
        "customers",
        "total",
    ]
    list_filter = ["kind", "via", "created"]
    search_fields = ["requested_by_name"]
    search_help_text = (
        "A staff username, or an email address: the requests that covered it "
        "(addresses are kept only as keyed hashes)."
    )
    date_hierarchy = "created"
    fieldsets = [
        (None, {"fields": ["kind", "via", "requested_by_name", "created"]}),
        (
            "What it covered",
            {
                "fields": [
                    "named_by",
                    "customers",
                    "rows",
                    "anonymised",
                    "total",
                    "email_digests",
                ]
            },
        ),
    ]
    readonly_fields = [
        "kind",
        "via",
        "requested_by_name",
        "created",
        "named_by",
        "customers",
        "rows",
        "anonymised",
        "total",
        "email_digests",
    ]
    change_list_template = "admin/privacy/datasubjectrequest/change_list.html"

    def has_module_permission(self, request: HttpRequest) -> bool:
        return may_handle_requests(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_handle_requests(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        if "@" in search_term:
            return queryset.about_email(search_term), False  # type: ignore[attr-defined]
        return super().get_search_results(request, queryset, search_term)

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("erase/", wrap(self.erase_view), name="privacy_erase"),
            path("export/", wrap(self.export_view), name="privacy_export"),
            *super().get_urls(),
        ]

    def _context(self, request: HttpRequest, title: str) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
        }

    def erase_view(self, request: HttpRequest) -> HttpResponse:
        """Name the person, see what will be erased, confirm; then erase."""
        if not may_handle_requests(request):
            raise PermissionDenied
        source = request.POST if request.method == "POST" else request.GET
        customer_ids = [int(v) for v in source.getlist("customer") if v.isdigit()]
        email = source.get("email", "").strip()
        form = SubjectForm(source or None)
        if (not customer_ids and not email) or (email and not form.is_valid()):
            return TemplateResponse(
                request,
                "admin/privacy/subject_form.html",
                {
                    **self._context(request, "Erase a customer's data"),
                    "form": form,
                    "action": "erase",
                },
            )
        named = (
            [{"email": email}] if email else [{"customer_id": i} for i in customer_ids]
        )
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            return self._erase(request, named)
        plans = []
        covered: set[int] = set()
        for kwargs in named:
            if kwargs.get("customer_id") in covered:
                continue  # the same shopper as one listed above
            try:
                subject = subject_find(**kwargs)
            except SubjectError as error:
                messages.error(request, str(error))
                return HttpResponseRedirect(reverse("admin:privacy_erase"))
            covered |= subject.customer_ids
            plans.append((kwargs, subject, erasure_plan(subject)))
        return TemplateResponse(
            request,
            "admin/privacy/erase_confirm.html",
            {
                **self._context(request, "Are you sure?"),
                "plans": plans,
                "email": email,
                "customer_ids": customer_ids,
            },
        )

    def _erase(self, request: HttpRequest, named: list[dict[str, Any]]) -> HttpResponse:
        for kwargs in named:
            customer_id = kwargs.get("customer_id")
            if customer_id and not Customer.objects.filter(pk=customer_id).exists():
                continue  # erased above with the same shopper's other record
            try:
                record = subject_erase(
                    **kwargs,
                    by=request.user,
                    by_name=request.user.get_username(),
                    via=DataSubjectRequest.Via.ADMIN,
                )
            except SubjectError as error:
                messages.error(request, str(error))
                continue
            messages.success(
                request,
                f"Erased {record.total} rows and anonymised "
                f"{sum(record.anonymised.values())} (request #{record.pk}).",
            )
        return HttpResponseRedirect(
            reverse("admin:privacy_datasubjectrequest_changelist")
        )

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """Name the person; download everything held about them as a zip."""
        if not may_handle_requests(request):
            raise PermissionDenied
        # GET only fills the form in (from the customer page's link): an export
        # is recorded, so it happens on a POST.
        form = (
            SubjectForm(request.POST)
            if request.method == "POST"
            else SubjectForm(initial=request.GET.dict())
        )
        if form.is_bound and form.is_valid():
            try:
                export = subject_export(
                    customer_id=form.cleaned_data["customer"],
                    email=form.cleaned_data["email"] or None,
                    by=request.user,
                    by_name=request.user.get_username(),
                    via=DataSubjectRequest.Via.ADMIN,
                )
            except SubjectError as error:
                form.add_error(None, str(error))
            else:
                return export_response(export)
        return TemplateResponse(
            request,
            "admin/privacy/subject_form.html",
            {
                **self._context(request, "Export a customer's data"),
                "form": form,
                "action": "export",
            },
        )


# The customer list gets the two requests as actions. The chat's admin can't offer
# them itself (chatbot never imports privacy), so its CustomerAdmin is registered
# again here with them added; this app comes after chatbot in INSTALLED_APPS.
admin.site.unregister(Customer)


@admin.register(Customer)
class CustomerPrivacyAdmin(CustomerAdmin):
    actions = ["erase_data", "export_data"]

    def has_erase_export_permission(self, request: HttpRequest) -> bool:
        return may_handle_requests(request)

    @admin.action(
        description="Erase the selected customers' data…",
        permissions=["erase_export"],
    )
    def erase_data(
        self, request: HttpRequest, queryset: QuerySet[Customer]
    ) -> HttpResponse:
        ids = sorted(queryset.values_list("pk", flat=True))
        query = urlencode([("customer", pk) for pk in ids])
        return HttpResponseRedirect(f"{reverse('admin:privacy_erase')}?{query}")

    @admin.action(
        description="Export the selected customer's data (access request)",
        permissions=["erase_export"],
    )
    def export_data(
        self, request: HttpRequest, queryset: QuerySet[Customer]
    ) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(
                request,
                "Select one customer: an export answers one person's request.",
                messages.WARNING,
            )
            return None
        return export_response(
            subject_export(
                customer_id=queryset.get().pk,
                by=request.user,
                by_name=request.user.get_username(),
                via=DataSubjectRequest.Via.ADMIN,
            )
        )


@admin.register(StaffAccess)
class StaffAccessAdmin(admin.ModelAdmin):
    """Read only: an access log nobody can edit, add to or prune by hand (the
    nightly purge removes lines older than the shop's retention)."""

    list_display = [
        "opened_at",
        "username",
        "place",
        "api_key_name",
        "conversation_public_id",
        "conversation",
    ]
    list_filter = ["place", "user", "opened_at"]
    list_select_related = ["conversation"]
    search_fields = ["conversation_public_id", "username", "api_key_name"]
    search_help_text = "Conversation id, user name or API key name."
    date_hierarchy = "opened_at"
    fields = (
        "opened_at",
        "username",
        "user",
        "place",
        "api_key_name",
        "conversation_public_id",
        "conversation",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
