// Streams a chat turn into the page. Without this script the form still works (a plain POST).
(function () {
  "use strict";
  const form = document.getElementById("chat-form");
  if (!form || !window.fetch || !window.TextDecoder) return;

  const transcript = document.getElementById("transcript");
  const banners = document.getElementById("banners");
  const input = form.querySelector("textarea[name=message]");
  const idField = form.querySelector("input[name=conversation_id]");
  const button = document.getElementById("send-button");
  const status = document.getElementById("chat-status");

  function bubble(kind, text) {
    const el = document.createElement("div");
    el.className = "bubble bubble-" + kind;
    const who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = kind === "user" ? "You:" : "Assistant:";
    const body = document.createElement("div");
    body.className = "bubble-text";
    body.textContent = text;
    el.append(who, body);
    transcript.append(el);
    return el;
  }

  function showFieldError(message) {
    let list = document.getElementById("id_message_error");
    if (!list) {
      list = document.createElement("ul");
      list.className = "errorlist";
      list.id = "id_message_error";
      input.after(list);
    }
    list.replaceChildren();
    const item = document.createElement("li");
    item.textContent = message;
    list.append(item);
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", "id_message_error");
  }

  function clearFieldError() {
    const list = document.getElementById("id_message_error");
    if (list) list.remove();
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-describedby");
  }

  function addConversationLink(id, title) {
    const list = document.getElementById("conversation-list");
    const empty = document.getElementById("no-conversations");
    if (empty) empty.remove();
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = "/chat/" + id + "/";
    link.textContent = title;
    link.setAttribute("aria-current", "page");
    item.append(link);
    list.prepend(item);
  }

  async function send(event) {
    event.preventDefault();
    const text = input.value;
    const data = new FormData(form);
    clearFieldError();
    button.disabled = true;
    status.textContent = "The assistant is answering…";
    let response;
    try {
      response = await fetch(form.action, {
        method: "POST",
        body: data,
        headers: { Accept: "text/event-stream" },
        credentials: "same-origin",
      });
    } catch (err) {
      showFieldError("The server could not be reached. Try again.");
      button.disabled = false;
      status.textContent = "";
      return;
    }
    if (!response.ok) {
      let message = "The message could not be sent (HTTP " + response.status + ").";
      try {
        const body = await response.json();
        const fields = (body.error.extra || {}).fields || {};
        message = (fields.message && fields.message[0]) || body.error.message || message;
      } catch (ignored) { /* not JSON */ }
      showFieldError(message);
      button.disabled = false;
      status.textContent = "";
      return;
    }

    const empty = document.getElementById("transcript-empty");
    if (empty) empty.remove();
    banners.replaceChildren();
    bubble("user", text.trim());
    input.value = "";
    const answer = bubble("assistant", "");
    answer.setAttribute("aria-busy", "true");
    const answerText = answer.querySelector(".bubble-text");
    const isNew = !idField.value;

    function handle(ev) {
      if (ev.type === "conversation") {
        idField.value = ev.conversation_id;
        if (isNew) {
          history.replaceState(null, "", "/chat/" + ev.conversation_id + "/");
          addConversationLink(ev.conversation_id, text.trim().slice(0, 60));
          document.getElementById("chat-heading").textContent = text.trim().slice(0, 60);
        }
      } else if (ev.type === "text") {
        answerText.textContent += ev.delta;
      } else if (ev.type === "tool_call") {
        answer.insertAdjacentHTML("beforebegin", ev.html);  // rendered and escaped by the server
      } else if (ev.type === "done") {
        answerText.textContent = ev.answer.reply;
        const meta = document.createElement("div");
        meta.className = "bubble-meta";
        meta.textContent = ev.answer.provider + " · " + ev.answer.model;
        answer.append(meta);
        banners.innerHTML = ev.html;  // rendered and escaped by the server
      } else if (ev.type === "error") {
        answerText.textContent = ev.message || "Something went wrong.";
      }
    }

    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        if (data) handle(JSON.parse(data));
      }
    }
    answer.removeAttribute("aria-busy");
    button.disabled = false;
    status.textContent = "Answer received.";
    input.focus();
  }

  form.addEventListener("submit", send);
  // Enter sends; Shift+Enter makes a new line.
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
})();
