// The console's shared helpers: calls to mallcast's own API with the session's CSRF token,
// building elements without HTML strings (names come from users: text, never markup), and
// showing an API error next to the field it names.
"use strict";

const mallcast = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content;

  async function api(method, path, body, extraHeaders = {}) {
    const headers = { Accept: "application/json", ...extraHeaders };
    const binary = body instanceof ArrayBuffer;  // a file sent as it is (an IMDF archive)
    if (body !== undefined) headers["Content-Type"] = binary ? "application/zip" : "application/json";
    if (csrf && method !== "GET") headers["X-CSRF-Token"] = csrf;
    const response = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : binary ? body : JSON.stringify(body),
    });
    if (response.status === 401) {
      location.href = "/console/sign-in?next=" + encodeURIComponent(location.pathname + location.search);
      throw new Error("signed out");
    }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!response.ok) {
      const problem = new Error(data?.error?.message || `${response.status} ${response.statusText}`);
      problem.status = response.status;
      problem.error = data?.error || { code: "http_error", message: problem.message, details: {} };
      throw problem;
    }
    return data;
  }

  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clearErrors(form) {
    form.querySelectorAll(".field-error").forEach((p) => { p.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
    const general = form.querySelector(".form-error");
    if (general) general.textContent = "";
  }

  // "body.quiet_hours.start" -> the input named "quiet_hours.start" (or the nearest parent
  // field the form has: "body.targets.zones.3" -> "targets.zones").
  function fieldFor(form, path) {
    const parts = String(path).split(".");
    if (["body", "query", "path"].includes(parts[0])) parts.shift();
    while (parts.length) {
      const name = parts.join(".");
      const input = form.querySelector(`[name="${CSS.escape(name)}"], [data-field="${CSS.escape(name)}"]`);
      if (input) return input;
      parts.pop();
    }
    return null;
  }

  function showErrors(form, problem) {
    clearErrors(form);
    const error = problem.error || { message: String(problem.message || problem), details: {} };
    const fields = error.details?.fields || (error.details?.field ? [{ field: error.details.field, message: error.message }] : []);
    let placed = 0;
    for (const { field, message } of fields) {
      const input = fieldFor(form, field);
      const holder = input && (input.classList.contains("field-error")
        ? input : document.getElementById(`${input.id || input.dataset.field}-error`));
      if (holder) {
        holder.textContent = holder.textContent ? `${holder.textContent}; ${message}` : message;
        input.setAttribute("aria-invalid", "true");
        placed += 1;
      }
    }
    if (!placed) {
      const general = form.querySelector(".form-error");
      if (general) general.textContent = error.message;
    } else {
      form.querySelector("[aria-invalid]")?.focus();
    }
  }

  function say(message, kind = "status") {
    let box = document.getElementById("flash");
    if (!box) {
      box = el("p", { id: "flash", role: "status", "aria-live": "polite" });
      document.querySelector("main").prepend(box);
    }
    box.className = kind;
    box.textContent = message;
  }

  return { api, el, showErrors, clearErrors, say };
})();
