// A tenant's offer: the form, a phone preview with FCM's 4 KB measured as the server measures
// it at submission (promotions/payload.py), and target zones chosen on the floor plan.
"use strict";

(() => {
  const plan = JSON.parse(document.getElementById("plan").textContent);
  const offer = JSON.parse(document.getElementById("offer-data").textContent);
  const limit = JSON.parse(document.getElementById("limit").textContent);
  const form = document.getElementById("offer-form");
  const field = (name) => form.querySelector(`[name="${name}"]`);
  const editable = () => !form.querySelector("fieldset").disabled;
  const chosen = new Set(offer ? offer.targets.zones : []);
  const zoneName = new Map(plan.features.map((f) => [f.id, f.properties.name]));

  // -- preview and size ----------------------------------------------------------------------
  const LONGEST_ID = "9223372036854775807";
  function payloadBytes() {
    const notification = { title: field("title").value, body: field("body").value };
    if (field("image_url").value) notification.image = field("image_url").value;
    const data = { decision_id: LONGEST_ID, promotion_id: LONGEST_ID };
    if (field("deep_link").value) data.deep_link = field("deep_link").value;
    data.code = "XXXXXXXXXXXX";
    return new TextEncoder().encode(JSON.stringify({ notification, data })).length;
  }
  function preview() {
    document.getElementById("preview-title").textContent = field("title").value || "Title";
    document.getElementById("preview-body").textContent = field("body").value || "Text";
    const image = document.getElementById("preview-image");
    const url = field("image_url").value;
    image.hidden = !/^https:\/\//.test(url);
    if (!image.hidden) image.src = url;
    const bytes = payloadBytes();
    const size = document.getElementById("payload-size");
    size.textContent = `${bytes} of ${limit} bytes of a push notification` +
      (bytes > limit ? ": too long, shorten the text" : "");
    size.classList.toggle("over", bytes > limit);
  }
  form.addEventListener("input", preview);

  // -- zones on the map ----------------------------------------------------------------------
  function chips() {
    const list = document.getElementById("chosen-zones");
    list.replaceChildren(...[...chosen].map((id) => mallcast.el("li", {},
      mallcast.el("span", { text: zoneName.get(id) ?? `zone ${id}` }),
      editable()
        ? mallcast.el("button", { type: "button", "aria-label": `Remove ${zoneName.get(id) ?? id}`,
                                  text: "×", onclick: () => toggle(id) })
        : null)));
    if (!chosen.size) list.append(mallcast.el("li", { class: "empty", text: "No zone chosen yet" }));
  }
  function toggle(id) {
    if (chosen.has(id)) chosen.delete(id); else chosen.add(id);
    chips();
    floor.restyle();
  }
  const floor = floorMap(document.getElementById("map"), plan, {
    styleFor: (feature) => {
      if (chosen.has(feature.id)) return { fillColor: "#0b6e4f", fillOpacity: 0.8, weight: 3, color: "#0b6e4f" };
      if (!feature.properties.targetable) return { fillOpacity: 0.15, color: "#999" };
      return { weight: 2, color: "#0b6e4f" };
    },
    onZoneClick: (feature) => {
      if (!editable()) return;
      if (!feature.properties.targetable) {
        mallcast.say(`${feature.properties.name} is not open to your offers`, "error-text");
        return;
      }
      toggle(feature.id);
    },
    level: offer && offer.targets.zones.length
      ? plan.features.find((f) => f.id === offer.targets.zones[0])?.properties.level : undefined,
  });
  levelPicker(document.getElementById("level"), plan, floor);

  // -- the form and the API ------------------------------------------------------------------
  function localInput(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }
  function fill() {
    if (!offer) { preview(); chips(); return; }
    for (const name of ["title", "body", "image_url", "deep_link", "category"]) field(name).value = offer[name] ?? "";
    if (document.getElementById("target-mall")) document.getElementById("target-mall").checked = offer.targets.mall;
    field("schedule.starts_at").value = localInput(offer.schedule.starts_at);
    field("schedule.ends_at").value = localInput(offer.schedule.ends_at);
    const window = offer.schedule.windows[0];
    if (window) {
      field("schedule.windows").value = window.days[0];
      document.getElementById("window-start").value = window.start;
      document.getElementById("window-end").value = window.end;
    }
    field("limits.per_shopper_per_day").value = offer.limits.per_shopper_per_day ?? 1;
    document.getElementById("codes").checked = offer.redemption.codes === "unique";
    preview();
    chips();
  }
  function body() {
    const value = (name) => field(name).value.trim() || null;
    const when = (name) => (field(name).value ? new Date(field(name).value).toISOString() : null);
    const days = field("schedule.windows").value;
    return {
      title: field("title").value, body: field("body").value, category: field("category").value,
      image_url: value("image_url"), deep_link: value("deep_link"),
      targets: { zones: [...chosen], mall: document.getElementById("target-mall")?.checked ?? false },
      schedule: {
        starts_at: when("schedule.starts_at"), ends_at: when("schedule.ends_at"),
        windows: days ? [{ days: [days], start: document.getElementById("window-start").value,
                           end: document.getElementById("window-end").value }] : [],
      },
      limits: { per_shopper_per_day: Number(field("limits.per_shopper_per_day").value) || 1 },
      redemption: { codes: document.getElementById("codes").checked ? "unique" : "none" },
    };
  }
  async function save() {
    mallcast.clearErrors(form);
    if (offer) return mallcast.api("PATCH", `/v1/tenant/promotions/${offer.id}`, body());
    return mallcast.api("POST", "/v1/tenant/promotions", body());
  }
  async function act(work) {
    try {
      await work();
    } catch (problem) {
      mallcast.showErrors(form, problem);
    }
  }
  document.getElementById("save")?.addEventListener("click", () => act(async () => {
    const saved = await save();
    location.href = `/console/offers/${saved.id}?saved=1`;
  }));
  document.getElementById("submit")?.addEventListener("click", () => act(async () => {
    const saved = await save();
    try {
      await mallcast.api("POST", `/v1/tenant/promotions/${saved.id}/submit`);
    } catch (problem) {
      if (!offer) history.replaceState(null, "", `/console/offers/${saved.id}`);
      throw problem;
    }
    location.href = `/console/offers/${saved.id}?submitted=1`;
  }));
  for (const action of ["pause", "resume", "end"]) {
    document.getElementById(action)?.addEventListener("click", () => act(async () => {
      if (action === "end" && !confirm("End this offer for good? It cannot be resumed.")) return;
      await mallcast.api("POST", `/v1/tenant/promotions/${offer.id}/${action}`);
      location.reload();
    }));
  }
  const said = new URLSearchParams(location.search);
  if (said.has("saved")) mallcast.say("Saved as a draft.");
  if (said.has("submitted")) mallcast.say("Submitted: the mall will review it.");
  fill();
})();
