"""Server-rendered pages: thin adapters over the same services and selectors as the REST API."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.errors import ApplicationError, NotFound, ValidationFailed
from apps.core.ids import parse_object_id
from apps.keys.selectors import provider_key_get, provider_key_list, providers_accepting_keys
from apps.keys.vault import provider_key_create, provider_key_delete, provider_key_request_validation
from apps.web.forms import ProviderKeyForm, add_application_error


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _object_id(raw: str, field: str) -> int:
    try:
        return parse_object_id(raw, field=field)
    except ValidationFailed:
        raise Http404 from None  # a malformed id names no object of this user


def not_found_as_404(view):
    """Another user's object, or none at all, is a plain 404 page (never a hint that it exists)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except NotFound:
            raise Http404 from None

    return wrapper


# --- provider keys ------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def key_list(request: HttpRequest) -> HttpResponse:
    providers = providers_accepting_keys()
    status = 200
    if request.method == "POST":
        form = ProviderKeyForm(request.POST, providers=providers)
        if form.is_valid():
            values = form.cleaned_data
            try:
                record = provider_key_create(
                    user=request.user, provider_name=values["provider"], key=values["key"], label=values["label"]
                )
            except ApplicationError as exc:
                add_application_error(form, exc)
                status = exc.status_code
            else:
                messages.success(request, f"Key “{record.label}” (…{record.last4}) added.")
                return redirect("web:key-list")  # POST/redirect/GET: the key never comes back in a page
        else:
            status = 400
    else:
        form = ProviderKeyForm(providers=providers)
    context = {"form": form, "keys": provider_key_list(user=request.user), "active": "keys"}
    return render(request, "web/keys.html", context, status=status)


@login_required
@require_POST
@not_found_as_404
def key_validate(request: HttpRequest, key_id: str) -> HttpResponse:
    pk = _object_id(key_id, "key_id")
    error = None
    try:
        record = provider_key_request_validation(user=request.user, key_id=pk)
    except NotFound:
        raise
    except ApplicationError as exc:
        error = exc.message
        record = provider_key_get(user=request.user, key_id=pk)
    if _is_htmx(request):
        return render(request, "web/_key_row.html", {"key": record, "validation_error": error, "just_validated": True})
    if error:
        messages.error(request, error)
    else:
        messages.info(request, f"Key “{record.label}”: {record.get_status_display()}. {record.status_detail}")
    return redirect("web:key-list")


@login_required
@require_http_methods(["GET", "POST"])
@not_found_as_404
def key_delete(request: HttpRequest, key_id: str) -> HttpResponse:
    record = provider_key_get(user=request.user, key_id=_object_id(key_id, "key_id"))
    if request.method == "POST":
        provider_key_delete(user=request.user, key_id=record.pk)
        messages.success(request, f"Key “{record.label}” (…{record.last4}) deleted.")
        return redirect("web:key-list")
    return render(request, "web/key_confirm_delete.html", {"key": record, "active": "keys"})
