// The approval queue: each offer as the phone shows it, its zones on the map, approve or
// reject with a reason.
"use strict";

(() => {
  const plan = JSON.parse(document.getElementById("plan").textContent);
  const mallId = plan.mall.id;
  const names = new Map(plan.features.map((f) => [f.id, f.properties.name]));
  document.querySelectorAll(".chip[data-zone]").forEach((chip) => {
    const name = names.get(Number(chip.dataset.zone));
    if (name) chip.textContent = name;
  });
  document.querySelectorAll(".map.mini").forEach((container) => {
    const zones = new Set(JSON.parse(container.dataset.zones));
    const first = plan.features.find((f) => zones.has(f.id));
    floorMap(container, plan, {
      level: first ? first.properties.level : undefined,
      styleFor: (f) => (zones.has(f.id) ? { fillColor: "#0b6e4f", fillOpacity: 0.9, weight: 3 } : { fillOpacity: 0.15 }),
    });
  });

  for (const item of document.querySelectorAll(".queued")) {
    const form = item.querySelector("form");
    const id = item.dataset.id;
    async function decide(action, body) {
      try {
        // Exactly the version on the screen: one the store changed meanwhile is refused (412).
        await mallcast.api("POST", `/v1/malls/${mallId}/promotions/${id}/${action}`, body,
          { "If-Match": `"${item.dataset.version}"` });
        const title = item.querySelector("h2").textContent;
        item.remove();
        mallcast.say(`${action === "approve" ? "Approved" : "Rejected"}: ${title}.`);
      } catch (problem) {
        mallcast.showErrors(form, problem);
      }
    }
    item.querySelector(".approve").addEventListener("click", () => decide("approve"));
    item.querySelector(".reject").addEventListener("click", () => {
      const reason = form.elements.reason.value.trim();
      if (!reason) {
        mallcast.showErrors(form, { error: { message: "Say why, so the store can fix it.",
                                             details: { field: "reason" } } });
        return;
      }
      decide("reject", { reason });
    });
  }
})();
