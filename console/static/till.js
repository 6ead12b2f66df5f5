// The till: a shopper's code is checked and the redemption recorded in one step, by the API.
"use strict";

(() => {
  const form = document.getElementById("till-form");
  const result = document.getElementById("till-result");
  const titles = mallcast.api("GET", "/v1/tenant/promotions")
    .then((offers) => new Map(offers.map((o) => [o.id, o.title])))
    .catch(() => new Map());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    mallcast.clearErrors(form);
    const code = form.elements.code.value.trim().toUpperCase();
    result.className = "";
    try {
      const redemption = await mallcast.api("POST", "/v1/tenant/redemptions", { code });
      result.className = "ok";
      const title = (await titles).get(redemption.promotion_id) ?? `offer ${redemption.promotion_id}`;
      result.replaceChildren(mallcast.el("strong", { text: "Valid: redemption recorded." }),
        mallcast.el("span", { text: ` ${title}, ${new Date(redemption.redeemed_at).toLocaleTimeString()}.` }));
      form.reset();
    } catch (problem) {
      result.className = "bad";
      const reasons = { code_not_found: "Not valid: no such code for your offers.",
                        already_redeemed: "Not valid: this code was used already." };
      result.replaceChildren(mallcast.el("strong", { text: reasons[problem.error?.code] || problem.message }));
      if (problem.status === 422) mallcast.showErrors(form, problem);
    }
    form.elements.code.focus();
  });
})();
