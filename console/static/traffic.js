// Footfall and dwell per zone as a heat map on the floor plan, and who is in each zone now,
// refreshed every few seconds while the page is open (as the demo's shoppers move).
"use strict";

(() => {
  const section = document.getElementById("traffic");
  const plan = JSON.parse(document.getElementById("plan").textContent);
  const measure = document.getElementById("heat-measure");
  const status = document.getElementById("live-status");
  const names = new Map(plan.features.map((f) => [f.id, f.properties.name]));
  let values = new Map();
  let most = 0;
  let timer = null;

  // Yellow to dark red (ColorBrewer YlOrRd); zones without data stay pale.
  const RAMP = ["#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026", "#800026"];
  const colour = (v) => RAMP[Math.min(RAMP.length - 1, Math.floor((v / Math.max(most, 1e-9)) * (RAMP.length - 1)))];

  const floor = floorMap(document.getElementById("heat-map"), plan, {
    styleFor: (feature) => {
      const v = values.get(feature.id);
      return v ? { fillColor: colour(v), fillOpacity: 0.85 } : { fillColor: "#f2f2f2", fillOpacity: 0.5 };
    },
  });
  levelPicker(document.getElementById("level"), plan, floor);
  document.getElementById("level").addEventListener("change", () => { floor.restyle(); legend(); });

  function legend() {
    const unit = measure.value === "median_dwell_s" ? " s" : "";
    document.getElementById("heat-legend").replaceChildren(
      mallcast.el("span", { text: "0" }), mallcast.el("span", { class: "ramp", "aria-hidden": "true" }),
      mallcast.el("span", { text: `${Math.round(most)}${unit}` }));
    const onFloor = plan.features.filter((f) => values.get(f.id) &&
      (f.properties.level === floor.level || f.properties.level === null));
    onFloor.sort((a, b) => values.get(b.id) - values.get(a.id));
    document.getElementById("heat-top").replaceChildren(...onFloor.slice(0, 8).map((f) =>
      mallcast.el("li", { "data-zone": f.id, text: `${names.get(f.id)}: ${Math.round(values.get(f.id))}${unit}` })));
  }

  async function load() {
    try {
      document.getElementById("live-enters-box").hidden = measure.value !== "now";
      if (measure.value === "now") {
        const now = await mallcast.api("GET", section.dataset.presence);
        values = new Map(now.zones.map((z) => [z.zone_id, z.shoppers]));
        status.textContent = `${now.shoppers} shoppers in the mall at ${new Date(now.at).toLocaleTimeString()}`;
        await latestEnters();
      } else {
        const footfall = await mallcast.api("GET", section.dataset.footfall);
        values = new Map(footfall.zones.map((z) => [z.zone_id, z[measure.value] ?? 0]));
        status.textContent = `${footfall.since} to ${footfall.until}`;
      }
      most = Math.max(0, ...values.values());
      floor.restyle();
      legend();
    } catch (problem) {
      status.textContent = problem.message;
    }
  }

  // The stores entered last (units: their enters carry a confidence), newest first.
  async function latestEnters() {
    const page = await mallcast.api("GET", `${section.dataset.events}?kind=enter&limit=50`);
    const enters = page.events.filter((e) => e.confidence !== null).slice(0, 8);
    document.getElementById("live-enters").replaceChildren(...enters.map((e) =>
      mallcast.el("li", { "data-zone": e.zone_id, text:
        `${names.get(e.zone_id) ?? `zone ${e.zone_id}`} at ${new Date(e.at).toLocaleTimeString()}: ` +
        `${Math.round(e.confidence * 100)}% sure, ${e.evidence_fixes} fixes` })));
  }

  measure.addEventListener("change", () => {
    clearInterval(timer);
    timer = measure.value === "now" ? setInterval(load, 5000) : null;
    load();
  });
  load();
})();
