// The mall's rules: the API's own validation answers, each error shown by its field.
"use strict";

(() => {
  const form = document.getElementById("rules-form");
  const rules = JSON.parse(document.getElementById("rules").textContent);
  const mallId = form.dataset.mall;
  const el = (name) => form.querySelector(`[name="${name}"]`);

  function fill(r) {
    for (const name of ["max_pushes_per_day", "min_gap_minutes", "holdout_share", "attribution_window_hours"]) {
      el(name).value = r[name];
    }
    el("tenant_daily_cap").value = r.tenant_daily_cap ?? "";
    el("quiet_hours.on").checked = r.quiet_hours !== null;
    el("quiet_hours.start").value = r.quiet_hours?.start ?? "22:00";
    el("quiet_hours.end").value = r.quiet_hours?.end ?? "09:00";
    el("tenants_may_target_mall").checked = r.tenants_may_target_mall;
    form.querySelectorAll('[name="kind"]').forEach((box) => { box.checked = r.tenant_zone_kinds.includes(box.value); });
    el("tenant_zone_ids").value = r.tenant_zone_ids.join(", ");
    el("segments").value = JSON.stringify(r.segments, null, 2);
  }

  // Values go to the API as typed: a wrong one is the API's to refuse, by field.
  const numberOr = (value, empty) => (value.trim() === "" ? empty : Number(value));
  function body() {
    let segments;
    try { segments = JSON.parse(el("segments").value || "[]"); } catch (error) {
      throw { error: { message: `not JSON: ${error.message}`, details: { field: "segments" } } };
    }
    const ids = el("tenant_zone_ids").value.split(",").map((s) => s.trim()).filter(Boolean);
    return {
      max_pushes_per_day: numberOr(el("max_pushes_per_day").value, null),
      min_gap_minutes: numberOr(el("min_gap_minutes").value, null),
      tenant_daily_cap: numberOr(el("tenant_daily_cap").value, null),
      quiet_hours: el("quiet_hours.on").checked
        ? { start: el("quiet_hours.start").value, end: el("quiet_hours.end").value } : null,
      holdout_share: numberOr(el("holdout_share").value, null),
      attribution_window_hours: numberOr(el("attribution_window_hours").value, null),
      tenants_may_target_mall: el("tenants_may_target_mall").checked,
      tenant_zone_kinds: [...form.querySelectorAll('[name="kind"]:checked')].map((box) => box.value),
      tenant_zone_ids: ids.map((id) => (/^\d+$/.test(id) ? Number(id) : id)),
      segments,
    };
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    mallcast.clearErrors(form);
    try {
      const saved = await mallcast.api("PUT", `/v1/malls/${mallId}/rules`, body());
      fill(saved);
      mallcast.say("Rules saved.");
    } catch (problem) {
      mallcast.showErrors(form, problem);
    }
  });
  fill(rules);
})();
