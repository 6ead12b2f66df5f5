// The one-time link: its token is in the address's fragment, which browsers never send; it
// goes to the server with the new password, in the body.
"use strict";

(() => {
  const form = document.getElementById("link-form");
  const token = location.hash.slice(1);
  if (!token) {
    document.getElementById("link-missing").hidden = false;
    form.hidden = true;
    return;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    mallcast.clearErrors(form);
    const password = form.elements.password.value;
    if (password !== form.elements.repeat.value) {
      document.getElementById("repeat-error").textContent = "The two passwords differ.";
      form.elements.repeat.setAttribute("aria-invalid", "true");
      form.elements.repeat.focus();
      return;
    }
    try {
      const answer = await mallcast.api("POST", "/console/link",
        { token, password, form_token: form.dataset.formToken });
      history.replaceState(null, "", location.pathname);  // the token is spent: out of history
      location.href = answer.next;
    } catch (problem) {
      const message = problem.error?.message || String(problem);
      if (problem.error?.details?.field === "password") {
        document.getElementById("password-error").textContent = message;
        form.elements.password.setAttribute("aria-invalid", "true");
      } else {
        document.getElementById("form-error").textContent = message;
      }
    }
  });
})();
