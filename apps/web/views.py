"""Server-rendered pages: thin adapters over the same services and selectors as the REST API."""

from __future__ import annotations

from functools import partial, wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from apps.audit.selectors import turns_by_day, usage_by_day, usage_cache_summary, usage_quota_status
from apps.chat.selectors import conversation_get, conversation_list, message_list
from apps.chat.services import chat_turn_stream, conversation_delete
from apps.core.errors import ApplicationError, NotFound, ValidationFailed
from apps.core.exception_handler import error_body
from apps.core.ids import parse_object_id
from apps.core.streaming import sse_response
from apps.keys.selectors import provider_key_get, provider_key_list, provider_keys_checking, providers_accepting_keys
from apps.keys.vault import provider_key_create, provider_key_delete
from apps.limits.services import user_request_check
from apps.providers.selectors import provider_offline, provider_preference_get, providers_for_user
from apps.providers.services import provider_preference_set
from apps.providers.validation import provider_key_request_validation
from apps.web import presenters
from apps.web.forms import ChatMessageForm, ProviderChoiceForm, ProviderKeyForm, add_application_error


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

# While a key's validation waits for a worker, its row asks again every KEY_POLL_SECONDS, at most
# KEY_POLL_MAX times (then it says to reload later); the selector's window bounds it across reloads.
KEY_POLL_SECONDS = 2
KEY_POLL_MAX = 30


def _key_rows(user, keys) -> list[dict]:
    keys = list(keys)
    checking = provider_keys_checking(user=user, keys=keys)
    return [{"key": key, "checking": key.pk in checking} for key in keys]


def _key_row(request, record, *, poll: int = 0, **extra) -> HttpResponse:
    [row] = _key_rows(request.user, [record])
    context = {**row, "poll": poll, "next_poll": poll + 1, "poll_max": KEY_POLL_MAX, "poll_seconds": KEY_POLL_SECONDS}
    return render(request, "web/_key_row.html", {**context, **extra})


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
    context = {
        "form": form,
        "key_rows": _key_rows(request.user, provider_key_list(user=request.user)),
        "active": "keys",
        "poll_max": KEY_POLL_MAX,
        "poll_seconds": KEY_POLL_SECONDS,
        "poll": 0,
        "next_poll": 1,
    }
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
        return _key_row(request, record, validation_error=error, just_validated=True)
    if error:
        messages.error(request, error)
    else:
        messages.info(request, f"Key “{record.label}”: {record.get_status_display()}. {record.status_detail}")
    return redirect("web:key-list")


@login_required
@require_http_methods(["GET"])
@not_found_as_404
def key_row(request: HttpRequest, key_id: str) -> HttpResponse:
    """One key's row, for the page's polling while its validation is checking (?poll= counts the asks)."""
    record = provider_key_get(user=request.user, key_id=_object_id(key_id, "key_id"))
    if not _is_htmx(request):
        return redirect("web:key-list")
    try:
        poll = min(max(int(request.GET.get("poll") or "0"), 0), KEY_POLL_MAX)
    except ValueError:
        poll = KEY_POLL_MAX  # a mangled counter stops the polling rather than restarting it
    return _key_row(request, record, poll=poll, just_validated=True)


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


# --- chat -----------------------------------------------------------------------------------


def _wants_event_stream(request: HttpRequest) -> bool:
    return "text/event-stream" in request.headers.get("Accept", "")


def _chat_url(conversation_id: int | None) -> str:
    return reverse("web:chat-detail", args=[conversation_id]) if conversation_id else reverse("web:chat")


def _optional_conversation_id(raw: str | None) -> int | None:
    return _object_id(raw, "conversation_id") if raw else None


def _chat_page(request, *, conversation_id=None, message_form=None, provider_form=None, status=200):
    conversation = conversation_get(user=request.user, conversation_id=conversation_id) if conversation_id else None
    providers = providers_for_user(user=request.user)
    current, model = provider_preference_get(user=request.user)
    offline_name = provider_offline().name
    banners = presenters.quota_banners(usage_quota_status(user=request.user))
    if current.name == offline_name:
        banners.insert(0, presenters.Banner("info", "Offline mode", "The rule-based assistant answers; no AI model is called."))
    if conversation is not None and conversation.turn_in_progress:
        banners.insert(
            0,
            presenters.Banner(
                "info", "Still answering", "The assistant is still working on the last message. Reload in a moment to see the answer."
            ),
        )
    context = {
        "active": "chat",
        "conversations": conversation_list(user=request.user),
        "conversation": conversation,
        "transcript": presenters.transcript(message_list(conversation=conversation)) if conversation else [],
        "providers": providers,
        "current_provider": current,
        "current_model": model,
        "current_has_key": next((p["has_usable_key"] for p in providers if p["name"] == current.name), True),
        "banners": banners,
        "message_form": message_form or ChatMessageForm(initial={"conversation_id": conversation_id or ""}),
        "provider_form": provider_form
        or ProviderChoiceForm(providers=providers, initial={"choice": f"{current.name}:{model}"}),
    }
    return render(request, "web/chat.html", context, status=status)


@login_required
@require_http_methods(["GET"])
@not_found_as_404
def chat(request: HttpRequest, conversation_id: str | None = None) -> HttpResponse:
    pk = _object_id(conversation_id, "conversation_id") if conversation_id is not None else None
    return _chat_page(request, conversation_id=pk)


def _page_events(events, *, user):
    """The service's events, with the HTML the page inserts for tool cards and the final banners."""
    offline_name = None
    for event in events:
        if event["type"] == "tool_call":
            card = presenters.tool_card(
                name=event["name"], arguments=event["arguments"], result=event["result"], is_error=event["is_error"]
            )
            event = {**event, "html": render_to_string("web/_tool_card.html", {"card": card})}
        elif event["type"] == "done":
            offline_name = offline_name or provider_offline().name
            banners = presenters.answer_banners(event["answer"], offline_name=offline_name)
            banners += presenters.quota_banners(usage_quota_status(user=user))
            event = {**event, "html": render_to_string("web/_banners.html", {"banners": banners})}
        yield event


@login_required
@require_POST
@not_found_as_404
def chat_send(request: HttpRequest) -> HttpResponse:
    """One turn. With ``Accept: text/event-stream`` (the page's script) the answer streams as SSE;
    a plain form post runs the turn and redirects to the conversation."""
    streaming = _wants_event_stream(request)
    conversation_id = _optional_conversation_id(request.POST.get("conversation_id"))
    try:
        # The user's write limit first: a refused turn stores nothing (429 with the limit's message).
        request.limit_headers = user_request_check(user=request.user, kind="api_writes")
        # The service alone judges the text (blank, too long, null bytes): the form only renders it.
        events = chat_turn_stream(
            user=request.user, conversation_id=conversation_id, text=request.POST.get("message", "")
        )
    except NotFound:
        raise
    except ApplicationError as exc:
        request.limit_headers = getattr(exc, "headers", None) or request.limit_headers
        if streaming:
            return JsonResponse(error_body(exc.code, exc.message, exc.extra), status=exc.status_code)
        form = ChatMessageForm(request.POST)
        form.errors.clear()  # only the service's verdict is shown
        add_application_error(form, exc)
        return _chat_page(request, conversation_id=conversation_id, message_form=form, status=exc.status_code)
    if streaming:
        return sse_response(request, _page_events(events, user=request.user))
    answer = None
    for event in events:
        if event["type"] == "conversation":
            conversation_id = event["conversation_id"]
        elif event["type"] == "done":
            answer = event["answer"]
    if answer:
        for banner in presenters.answer_banners(answer, offline_name=provider_offline().name):
            messages.warning(request, f"{banner.title}: {banner.text}")
    return redirect(_chat_url(conversation_id))


@login_required
@require_http_methods(["GET", "POST"])
@not_found_as_404
def chat_delete(request: HttpRequest, conversation_id: str) -> HttpResponse:
    conversation = conversation_get(user=request.user, conversation_id=_object_id(conversation_id, "conversation_id"))
    if request.method == "POST":
        conversation_delete(user=request.user, conversation_id=conversation.pk)
        messages.success(request, f"Conversation “{conversation}” deleted.")
        return redirect("web:chat")
    return render(request, "web/chat_confirm_delete.html", {"conversation": conversation, "active": "chat"})


@login_required
@require_POST
@not_found_as_404
def chat_provider(request: HttpRequest) -> HttpResponse:
    """Choose the provider and model for the next turns (the same service as PUT /api/v1/preferences/)."""
    conversation_id = _optional_conversation_id(request.POST.get("conversation_id"))
    providers = providers_for_user(user=request.user)
    form = ProviderChoiceForm(request.POST, providers=providers)
    if form.is_valid():
        provider_name, model = form.cleaned_data["choice"]
        try:
            provider_preference_set(user=request.user, provider_name=provider_name, model=model)
        except ApplicationError as exc:
            add_application_error(form, exc, aliases={"provider": "choice", "model": "choice"})
        else:
            messages.success(request, f"Now using {form.display(provider_name, model)}.")
            return redirect(_chat_url(conversation_id))
    return _chat_page(request, conversation_id=conversation_id, provider_form=form, status=400)


# --- usage ----------------------------------------------------------------------------------

USAGE_DAYS = 30


@login_required
@require_http_methods(["GET"])
def usage(request: HttpRequest) -> HttpResponse:
    rows = usage_by_day(user=request.user, days=USAGE_DAYS)
    turns = turns_by_day(user=request.user, days=USAGE_DAYS)
    quotas = usage_quota_status(user=request.user)
    today = timezone.localdate()
    offline_name = provider_offline().name
    providers = presenters.providers_of(rows, turns)  # one colour per provider across the three charts
    chart = partial(presenters.stacked_bar_chart, days=USAGE_DAYS, today=today, all_providers=providers)
    context = {
        "active": "usage",
        "rows": presenters.usage_table(rows, turns, offline_name=offline_name),
        "offline": presenters.offline_summary(turns, offline_name=offline_name),
        "quotas": quotas,
        "banners": presenters.quota_banners(quotas),
        "days": USAGE_DAYS,
        "cache": usage_cache_summary(user=request.user, days=USAGE_DAYS),
        "turns_chart": chart(turns, value=lambda r: r["turns"], fmt=presenters.format_count),
        "tokens_chart": chart(rows, value=lambda r: r["input_tokens"] + r["output_tokens"], fmt=presenters.format_tokens),
        "cost_chart": chart(rows, value=lambda r: r["cost"], fmt=presenters.format_cost),
    }
    return render(request, "web/usage.html", context)


# --- connected apps (OAuth clients) -----------------------------------------------------------


@login_required
@require_http_methods(["GET"])
def connections(request: HttpRequest) -> HttpResponse:
    from apps.oauth.selectors import connection_list

    rows = connection_list(user=request.user)
    return render(request, "web/connections.html", {"connections": rows, "active": "connections"})


@login_required
@require_POST
def connection_revoke(request: HttpRequest, connection_id: str) -> HttpResponse:
    from apps.oauth.selectors import connection_get
    from apps.oauth.services import connection_revoke as revoke

    connection = connection_get(user=request.user, connection_id=_object_id(connection_id, "connection_id"))
    if connection is None:
        raise Http404
    name = connection.application.name or "The app"
    revoke(user=request.user, connection=connection)
    messages.success(request, f"{name} is disconnected; its tokens no longer work.")
    return redirect("web:connections")
