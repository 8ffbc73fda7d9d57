"""A chat turn: stateless (history from the database), a bounded tool loop, tools through MCP, all stored at the end."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.services import (
    audit_event_build,
    audit_events_store,
    audit_record,
    usage_record_build,
    usage_records_store,
)
from apps.audit.spool import DATABASE_DOWN, WRITE_ID, spool_drain_soon, spool_put
from apps.chat.models import Conversation, Message
from apps.chat.selectors import conversation_get
from apps.core.errors import Conflict, NotFound, ValidationFailed
from apps.providers.errors import ProviderError
from apps.providers.gateway import KeepAlive, MidStreamFailure, ProviderSession
from apps.providers.selectors import provider_preference_for_turn
from apps.providers.types import ChatMessage, CompletionRequest, StreamDone, TextDelta, ToolCall, ToolSpec

logger = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You are the user's todo assistant. You can read and change their todo list only through the "
    "tools you are given; never invent tasks or ids. Refer to tasks as #id. Today is {today}. "
    "Answer briefly and plainly."
)


@dataclass
class ChatAnswer:
    conversation_id: int
    reply: str
    tool_calls: list[dict[str, Any]]
    provider: str
    model: str
    usage: dict[str, Any]
    cached: bool = False
    fallback_used: bool = False
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- conversion between stored rows and provider-neutral messages ---------------------------


def _calls_to_json(calls: tuple[ToolCall, ...]) -> list[dict[str, Any]]:
    return [
        {"id": c.id, "name": c.name, "arguments": c.arguments, "raw_arguments": c.raw_arguments, "error": c.error}
        for c in calls
    ]


def _calls_from_json(data: list[dict[str, Any]]) -> tuple[ToolCall, ...]:
    return tuple(
        ToolCall(
            id=c["id"],
            name=c["name"],
            arguments=c.get("arguments"),
            raw_arguments=c.get("raw_arguments") or "",
            error=c.get("error"),
        )
        for c in data
    )


def _as_chat_message(row: Message) -> ChatMessage:
    if row.role == Message.Role.TOOL:
        return ChatMessage(
            role="tool", content=row.content, tool_call_id=row.tool_call_id, name=row.tool_name, is_error=row.is_error
        )
    return ChatMessage(role=row.role, content=row.content, tool_calls=_calls_from_json(row.tool_calls or []))


def _consistent_prefix(rows: list[Message]) -> list[Message]:
    """The longest prefix in which every assistant tool call is followed by its result."""
    kept: list[Message] = []
    i = 0
    while i < len(rows):
        row = rows[i]
        if row.role == Message.Role.ASSISTANT and row.tool_calls:
            wanted = [c["id"] for c in row.tool_calls]
            results = rows[i + 1 : i + 1 + len(wanted)]
            if [r.tool_call_id for r in results if r.role == Message.Role.TOOL] != wanted:
                break
            kept.extend([row, *results])
            i += 1 + len(wanted)
        else:
            kept.append(row)
            i += 1
    return kept


def _history(conversation: Conversation, *, up_to: int) -> list[ChatMessage]:
    """The conversation as the model sees it, ending with this turn's own message (id ``up_to``).

    Bounded by id, not "the latest rows": whatever another writer adds after this turn's message
    (an expired lease's late turn, a message stored by hand) is never answered by this turn.
    """
    rows = list(conversation.messages.filter(id__lte=up_to).order_by("-id")[: settings.CHAT_HISTORY_MESSAGES])[::-1]
    while rows and rows[0].role != Message.Role.USER:  # never start on an orphaned tool result
        rows.pop(0)
    return [_as_chat_message(row) for row in _consistent_prefix(rows)]


# --- the turn --------------------------------------------------------------------------------


def _clean_text(text: object) -> str:
    if not isinstance(text, str):
        raise ValidationFailed("The message must be text.", extra={"fields": {"message": ["Must be a string."]}})
    text = text.strip()
    limit = settings.CHAT_MESSAGE_MAX_CHARS
    if not text:
        raise ValidationFailed("The message is empty.", extra={"fields": {"message": ["This field may not be blank."]}})
    if len(text) > limit:
        raise ValidationFailed(
            f"The message is too long ({len(text)} characters; the limit is {limit}).",
            extra={"fields": {"message": [f"Ensure this field has no more than {limit} characters."]}},
        )
    if "\x00" in text:
        raise ValidationFailed("Null characters are not allowed.", extra={"fields": {"message": ["Null characters."]}})
    return text


# --- one turn at a time per conversation ---------------------------------------------------
#
# Two turns answering one conversation at once would each read the other's message as the
# latest one and act on it. A turn therefore holds a lease on its conversation from the moment
# its message is stored until its answer is stored: one conditional UPDATE ("take it if free
# or expired") claims it atomically on PostgreSQL (the second writer waits for the row, then
# re-checks the condition and matches nothing) and on SQLite (one writer at a time). A second
# turn is refused with a 409 before it stores anything, rather than queued: a waiting request
# would hold a server thread for as long as the first turn's model calls take.
#
# No database lock is held across the model and tool calls: the lease is a column, written in
# short transactions (claim, renew at each step, release with the answer), so SQLite's single
# writer stays free for the tools' own writes. The lease expires (CHAT_TURN_LEASE_SECONDS,
# renewed before every model call) so a server that died mid-turn cannot lock a conversation
# for good.


@dataclass
class _Turn:
    conversation: Conversation
    user_message_id: int
    lease_id: str
    released: bool = False  # set once the lease was given back in a committed transaction
    new_text: str | None = None  # a new conversation's first message: its whole history
    prompt: str = ""  # this turn's message as stored


def _lease_until():
    return timezone.now() + timedelta(seconds=settings.CHAT_TURN_LEASE_SECONDS)


def _lease_free() -> Q:
    return Q(turn_lease_until__isnull=True) | Q(turn_lease_until__lte=timezone.now())


def _turn_in_progress(conversation: Conversation) -> Conflict:
    return Conflict(
        "This conversation is still answering another message. Wait for that answer, then send yours again.",
        code="turn_in_progress",
        extra={"conversation_id": conversation.pk},
    )


def _lease_renew(turn: _Turn) -> None:
    renewed = Conversation.objects.filter(pk=turn.conversation.pk, turn_lease_id=turn.lease_id).update(
        turn_lease_until=_lease_until()
    )
    if not renewed:  # expired and taken by another turn: ours still answers its own message
        logger.warning("chat turn lost its lease on conversation %s", turn.conversation.pk)


def _lease_release(turn: _Turn) -> None:
    Conversation.objects.filter(pk=turn.conversation.pk, turn_lease_id=turn.lease_id).update(
        turn_lease_id="", turn_lease_until=None
    )


def _lease_release_later(turn: _Turn) -> None:
    """Give the lease back from a thread of its own once the database answers again (tried once per
    outage window), or give up when it would have expired anyway."""
    give_up = time.monotonic() + settings.CHAT_TURN_LEASE_SECONDS

    def retry() -> None:
        try:
            while time.monotonic() < give_up:
                time.sleep(max(0.05, settings.DATABASE_RETRY_AFTER_SECONDS))
                try:
                    _lease_release(turn)
                    return
                except DatabaseError:
                    connection.close()  # a new one next time
        finally:
            connection.close()

    logger.warning("chat turn could not give back its lease on conversation %s; retrying", turn.conversation.pk)
    threading.Thread(target=retry, name="chat-lease-release", daemon=True).start()


def _start_turn(*, user, conversation_id: int | None, text: str) -> _Turn:
    """Check the input, claim the conversation and store the user's message before any model call.

    Raises Conflict (409, ``turn_in_progress``) while another turn of this conversation runs;
    nothing is stored then.
    """
    text = _clean_text(text)
    lease_id = uuid.uuid4().hex
    with transaction.atomic():
        if conversation_id is None:
            conversation = Conversation.objects.create(
                owner=user, title=text[:60], turn_lease_id=lease_id, turn_lease_until=_lease_until()
            )
        else:
            conversation = conversation_get(user=user, conversation_id=conversation_id)
            claimed = (
                Conversation.objects.filter(_lease_free(), pk=conversation.pk)
                .update(turn_lease_id=lease_id, turn_lease_until=_lease_until())
            )
            if not claimed:
                raise _turn_in_progress(conversation)
        message = Message.objects.create(conversation=conversation, role=Message.Role.USER, content=text)
    return _Turn(
        conversation=conversation,
        user_message_id=message.pk,
        lease_id=lease_id,
        new_text=text if conversation_id is None else None,
        prompt=text,
    )


async def _to_the_end(awaitable):
    """Await ``awaitable`` to completion, even if the request is cancelled meanwhile.

    Django cancels a request whose client went away, and asgiref passes that cancellation on
    to the async work the view's thread is waiting for: the in-process MCP call. Cut off there,
    a tool that has already written (a task created) would leave no result and no answer behind.
    The turn goes on without its client instead (as a streamed turn does); it is bounded by its
    step limit and the provider timeouts.
    """
    task = asyncio.ensure_future(awaitable)
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            continue  # the request's cancellation, not the task's: keep waiting for the task
    return task.result()


_specs_for: tuple[Any, tuple[ToolSpec, ...]] | None = None


def _tool_specs(user) -> tuple[ToolSpec, ...]:
    """The enabled tools, from the MCP registry's per-process copy (rebuilt only when it changes)."""
    global _specs_for
    from apps.mcp_tools.client import local_tools_list

    listed = local_tools_list(user=user)
    cached = _specs_for
    if cached is not None and cached[0] is listed:
        return cached[1]
    specs = tuple(ToolSpec(name=t["name"], description=t["description"], input_schema=t["input_schema"]) for t in listed)
    _specs_for = (listed, specs)
    return specs


def _run_tool(user, call: ToolCall) -> tuple[str, bool, Any]:
    """(content for the model, is_error, structured result). Bad arguments never reach the tool."""
    if call.arguments is None:
        return f"Error: {call.error or 'the arguments could not be read'}", True, None
    from apps.mcp_tools.client import amcp_tool_call

    outcome = async_to_sync(_to_the_end)(amcp_tool_call(user=user, name=call.name, arguments=call.arguments, caller="chat"))
    return outcome.content_text, outcome.is_error, outcome.structured


def chat_turn_stream(
    *, user, conversation_id: int | None, text: str, stream: bool = True, no_cache: bool = False
) -> Iterator[dict[str, Any]]:
    """Start a turn now (bad input raises here) and return its events: conversation, text, tool_call, done.

    ``no_cache`` (the API's ``Cache-Control: no-cache``): no answer of this turn comes from the answer cache.
    """
    turn = _start_turn(user=user, conversation_id=conversation_id, text=text)
    return _turn_events(user=user, turn=turn, stream=stream, options={"no_cache": True} if no_cache else None)


def chat_turn(
    *, user, conversation_id: int | None, text: str, stream: bool = False, no_cache: bool = False
) -> ChatAnswer:
    """Run a whole turn and return the answer (``stream`` picks the providers' streaming wire format)."""
    answer = None
    for event in chat_turn_stream(user=user, conversation_id=conversation_id, text=text, stream=stream, no_cache=no_cache):
        if event["type"] == "done":
            answer = event["answer"]
    return ChatAnswer(**answer)


def _turn_events(*, user, turn: _Turn, stream: bool, options: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """The turn itself. Whoever iterates this must run it to the end (apps.core.streaming does,
    even when the client goes away): the answer, usage and audit row are stored, and the lease
    given back, when it finishes; closing it early stores only what is consistent so far."""
    try:
        yield from _turn_body(user=user, turn=turn, stream=stream, options=options)
    finally:
        # Given back here too, whatever happened: a turn that failed to store must not keep its
        # conversation locked until the lease expires. (The normal release is in _save_turn.)
        if not turn.released:
            try:
                _lease_release(turn)
            except DatabaseError:
                # The database that failed the turn mostly fails this too: without a retry the
                # conversation answered 409 until the lease expired, long after it was back.
                _lease_release_later(turn)


def _turn_body(*, user, turn: _Turn, stream: bool, options: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    conversation = turn.conversation
    provider, model = provider_preference_for_turn(user=user)
    session = ProviderSession(user=user, provider=provider, model=model, options=options)
    system = ChatMessage(role="system", content=SYSTEM_PROMPT.format(today=timezone.localdate().isoformat()))
    if turn.new_text is not None:  # created with this message: nothing else to read back
        history = [ChatMessage(role=Message.Role.USER.value, content=turn.new_text)]
    else:
        history = _history(conversation, up_to=turn.user_message_id)
    messages = [system, *history]
    tools = _tool_specs(user)
    rows: list[Message] = []
    tool_views: list[dict[str, Any]] = []
    warnings = session.warnings
    reply_text = ""
    saved = False
    failed = False

    def assistant_row(text: str, calls: tuple[ToolCall, ...] = (), usage=None) -> Message:
        return Message(
            role=Message.Role.ASSISTANT,
            content=text,
            tool_calls=_calls_to_json(calls),
            provider=session.provider.name,
            model=session.model,
            input_tokens=usage.input_tokens if usage else 0,
            output_tokens=usage.output_tokens if usage else 0,
        )

    yield {"type": "conversation", "conversation_id": conversation.pk}
    try:
        for step in range(settings.CHAT_MAX_MODEL_CALLS_PER_TURN):
            if step:
                _lease_renew(turn)
            request = CompletionRequest(
                model=session.model, messages=tuple(messages), tools=tools, max_tokens=settings.CHAT_MAX_OUTPUT_TOKENS,
                temperature=settings.CHAT_TEMPERATURE,
            )
            if stream:
                reply = None
                for event in session.stream(request):
                    if isinstance(event, TextDelta):
                        yield {"type": "text", "delta": event.text}
                    elif isinstance(event, KeepAlive):
                        yield {"type": "keepalive"}
                    elif isinstance(event, StreamDone):
                        reply = event.reply
            else:
                reply = session.complete(request)
                if reply.text and not reply.tool_calls:
                    yield {"type": "text", "delta": reply.text}
            rows.append(assistant_row(reply.text, reply.tool_calls, reply.usage))
            messages.append(ChatMessage(role="assistant", content=reply.text, tool_calls=reply.tool_calls))
            if not reply.tool_calls:
                reply_text = reply.text
                break
            for call in reply.tool_calls:
                content, is_error, structured = _run_tool(user, call)
                rows.append(
                    Message(
                        role=Message.Role.TOOL,
                        content=content,
                        tool_call_id=call.id,
                        tool_name=call.name[:128],
                        is_error=is_error,
                    )
                )
                messages.append(
                    ChatMessage(role="tool", content=content, tool_call_id=call.id, name=call.name, is_error=is_error)
                )
                view = {
                    "name": call.name,
                    "arguments": call.arguments if call.arguments is not None else call.raw_arguments,
                    "result": structured if structured is not None else content,
                    "is_error": is_error,
                }
                tool_views.append(view)
                yield {"type": "tool_call", **view}
        else:
            reply_text = (
                f"I stopped after {settings.CHAT_MAX_MODEL_CALLS_PER_TURN} steps without finishing. "
                "Please try a simpler request."
            )
            warnings.append("The turn reached its step limit.")
            rows.append(assistant_row(reply_text))
            yield {"type": "text", "delta": reply_text}
        if not reply_text.strip() and not warnings:
            reply_text = "(The assistant gave no answer.)"
            warnings.append("The provider returned an empty answer.")
            yield {"type": "text", "delta": reply_text}
    except MidStreamFailure as exc:
        failed = True
        notice = f"[The reply was cut off: {exc.error.message}]"
        reply_text = f"{exc.partial_text}\n\n{notice}" if exc.partial_text else notice
        warnings.append("The provider's reply was cut off before it finished.")
        rows.append(assistant_row(reply_text))
        yield {"type": "text", "delta": f"\n\n{notice}"}
    except ProviderError as exc:
        failed = True
        reply_text = f"Sorry, I could not get an answer: {exc.message}"
        warnings.append(exc.message)
        rows.append(assistant_row(reply_text))
    finally:
        if not saved:
            # Runs even when a streaming client goes away mid-turn: keep what is consistent.
            saved = True
            if not _save_turn(user=user, turn=turn, rows=rows, session=session, failed=failed):
                warnings.append("The conversation was deleted while this answer was written; it was not stored.")

    cost = sum((c.cost for c in session.calls), Decimal("0"))
    answer = ChatAnswer(
        conversation_id=conversation.pk,
        reply=reply_text,
        tool_calls=tool_views,
        provider=session.provider.name,
        model=session.model,
        usage={
            "input_tokens": sum(c.reply.usage.input_tokens for c in session.calls),
            "output_tokens": sum(c.reply.usage.output_tokens for c in session.calls),
            "cost": float(round(cost, 8)),
        },
        # True when every model call of the turn was answered from the answer cache.
        cached=bool(session.calls) and all(c.cached for c in session.calls),
        fallback_used=session.fallback_used,
        warnings=list(warnings),
    )
    yield {"type": "done", "answer": answer.as_dict()}


_EVENT_OUTCOMES = {"provider.failover": "failure", "provider.breaker_opened": "failure", "limit.exceeded": "denied"}


def _save_turn(*, user, turn: _Turn, rows: list[Message], session: ProviderSession, failed: bool) -> bool:
    """Store the turn's messages, usage and audit rows; False if the conversation was deleted meanwhile.

    Usage and the audit rows are stored either way: the model calls were made and the tools ran.
    When the database fails the transaction (down, timed out), they are kept outside it and
    written later, once, as they were (apps.audit.spool); the messages are not (the user sees the
    error, 503 or the stream's error event, and sends again) and the error goes on.
    """
    rows = _consistent_prefix(rows)
    write_id = uuid.uuid4().hex
    # Built before the transaction, so that what it failed to store can be kept exactly.
    usage = [usage_record_build(**entry) for entry in _usage_entries(user, turn, session)]
    events = [audit_event_build(**entry) for entry in _audit_entries(user, turn, rows, session, failed, write_id)]
    try:
        return _store_turn(user=user, turn=turn, rows=rows, session=session, failed=failed, write_id=write_id,
                           usage=usage, events=events)  # fmt: skip
    except DATABASE_DOWN as exc:
        spool_put(entry_id=write_id, usage=usage, events=events, created_at=events[-1].created_at, reason=exc)
        raise


@transaction.atomic
def _store_turn(*, user, turn: _Turn, rows: list[Message], session: ProviderSession, failed: bool, write_id: str,
                usage: list, events: list) -> bool:  # fmt: skip
    """The row lock is held for this short transaction only (never across model calls), so a
    delete either happens before (the messages are dropped) or waits until the turn is stored."""
    conversation = turn.conversation
    now = timezone.now()
    # One UPDATE takes the row lock (as SELECT ... FOR UPDATE would), tells whether the
    # conversation still exists, and gives the lease back with the answer, in this transaction:
    # the next turn sees this one whole.
    released = Conversation.objects.filter(pk=conversation.pk, turn_lease_id=turn.lease_id).update(
        updated_at=now, turn_lease_id="", turn_lease_until=None
    )
    exists = bool(released) or bool(Conversation.objects.filter(pk=conversation.pk).update(updated_at=now))
    if exists:
        for row in rows:
            row.conversation = conversation
        Message.objects.bulk_create(rows)
    else:  # in place: a failure from here on keeps this version
        events[-1] = audit_event_build(**_turn_entry(user, turn, rows, session, failed, write_id, deleted=True))
    if released:
        transaction.on_commit(lambda: setattr(turn, "released", True))
    # Usage rows and audit events go in with one INSERT each (a round trip per row before).
    usage_records_store(usage)
    audit_events_store(events)
    spool_drain_soon()  # what an earlier failure of this process left, after this commit
    return exists


def _usage_entries(user, turn: _Turn, session: ProviderSession) -> list[dict[str, Any]]:
    # Every attempt, failed, retried or skipped ones too, so usage and health show what really happened.
    return [
        dict(
            user=user,
            provider=record.provider,
            model=record.model,
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
            cost=record.cost,
            conversation_id=turn.conversation.pk,
            fallback=record.fallback,
            cached=record.cached,
            cache_status=record.cache_status,
            cost_saved=record.cost_saved,
            outcome=record.outcome,
            error_kind=record.error_kind,
            attempt=record.attempt,
            latency_ms=record.latency_ms,
            waited_ms=int(record.waited_seconds * 1000),
            operator_key=record.operator_key,
        )
        for record in session.records
    ]  # fmt: skip


def _audit_entries(user, turn: _Turn, rows: list[Message], session: ProviderSession, failed: bool,
                   write_id: str) -> list[dict[str, Any]]:  # fmt: skip
    conversation = turn.conversation
    # One audit event per attempt too: the trail alone accounts for every call, its tokens and cost.
    events = [
        dict(
            actor=user,
            action="provider.attempt",
            target_type="providers.providerconfig",
            target_id=record.provider,
            outcome=_ATTEMPT_OUTCOME.get(record.outcome, "failure"),
            metadata={**record.as_dict(), "conversation_id": conversation.pk},
        )
        for record in session.records
    ]
    events += [
        dict(
            actor=user,
            action=event.action,
            target_type="providers.providerconfig",
            target_id=event.provider,
            outcome=_EVENT_OUTCOMES.get(event.action, "success"),
            metadata={"provider": event.provider, "conversation_id": conversation.pk, **event.metadata},
        )
        for event in session.events
    ]
    events.append(_turn_entry(user, turn, rows, session, failed, write_id, deleted=False))  # last: the spool's check
    return events


def _turn_entry(user, turn: _Turn, rows: list[Message], session: ProviderSession, failed: bool, write_id: str, *,
                deleted: bool) -> dict[str, Any]:  # fmt: skip
    conversation = turn.conversation
    records = session.records
    return dict(
        actor=user,
        action="chat.turn",
        target_type=conversation._meta.label_lower,
        target_id=conversation.pk,
        outcome="failure" if failed else "success",
        metadata={
            "provider": session.provider.name,
            "model": session.model,
            "model_calls": len(session.calls),
            "attempts": [r.as_dict() for r in records if r.outcome != "success" or r.attempt > 1],
            "tools": [r.tool_name for r in rows if r.role == Message.Role.TOOL],
            "fallback_used": session.fallback_used,
            "key_source": "operator" if any(r.operator_key and r.outcome == "success" for r in records) else "own",
            "input_tokens": sum(c.reply.usage.input_tokens for c in session.calls),
            "output_tokens": sum(c.reply.usage.output_tokens for c in session.calls),
            # Stored once whatever happens to the transaction (apps.audit.spool checks it on replay).
            WRITE_ID: write_id,
            **({"conversation_deleted": True} if deleted else {}),
            **(_full_log(turn, rows) if settings.AUDIT_FULL_LOGGING else {}),
        },
    )  # fmt: skip


# A refused attempt (key, limit) or one a policy skipped was denied, not attempted and failed.
_ATTEMPT_OUTCOME = {"success": "success", "failure": "failure", "skipped": "denied", "refused": "denied"}


def _full_log(turn: _Turn, rows: list[Message]) -> dict:
    """The prompt and the answer, only when AUDIT_FULL_LOGGING is on (off by default: they are user data)."""
    prompt = turn.prompt  # not read back: with the database down, the turn's events are still built
    answers = [r.content for r in rows if r.role == Message.Role.ASSISTANT and r.content]
    return {"prompt": prompt, "answer": answers[-1] if answers else ""}


@transaction.atomic
def conversation_delete(*, user, conversation_id: int) -> None:
    """Delete one of the user's conversations and its messages."""
    # Locked: unlocked, deletes racing each other each answered 204 and each wrote an audit row.
    conversation = Conversation.objects.select_for_update().filter(owner=user, pk=conversation_id).first()
    if conversation is None:
        raise NotFound("Conversation not found.", code="conversation_not_found", extra={"conversation_id": conversation_id})
    audit_record(
        actor=user, action="conversation.delete", target=conversation, metadata={"messages": conversation.messages.count()}
    )
    conversation.delete()
