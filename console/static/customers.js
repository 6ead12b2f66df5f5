// Customers: the lifecycle figures by week for the mall, a store or a segment, the members by
// their chance of still buying, and (operators) one member's timeline; all from the API.
"use strict";

(() => {
  const root = document.getElementById("customers");
  const form = document.getElementById("scope");
  const number = (x) => (x === null || x === undefined ? "–" : x.toLocaleString());
  const money = (x) => (x === null || x === undefined ? "–"
    : Number(x).toLocaleString(undefined, { maximumFractionDigits: 2, minimumFractionDigits: 2 }));
  const buckets = { "below_0.25": "below 25%", "0.25_to_0.5": "25-50% (churn risk)",
    "0.5_to_0.75": "50-75%", "0.75_or_more": "75% or more", not_modelled: "not modelled yet" };

  async function show() {
    const params = new URLSearchParams();
    const weeks = Number(form.elements.weeks.value);
    const since = new Date(Date.now() - (weeks * 7 - 1) * 86400000);
    params.set("since", since.toISOString().slice(0, 10));
    if (form.elements.tenant_id?.value) params.set("tenant_id", form.elements.tenant_id.value);
    if (form.elements.segment.value) params.set("segment", form.elements.segment.value);
    const status = document.getElementById("now");
    try {
      const figures = await mallcast.api("GET", `${root.dataset.lifecycle}?${params}`);
      status.textContent = figures.now === null
        ? "The lifecycle job has not run yet: figures appear after its first run (nightly, and when the service starts)."
        : `${number(figures.now.members)} members; predicted spend over the next `
          + `${figures.now.model.horizon_weeks} weeks: ${money(figures.now.predicted_value)} `
          + `${figures.currency || ""} (computed ${new Date(figures.now.computed_at).toLocaleString()}).`;
      const alive = figures.now ? Object.entries(figures.now.p_alive) : [];
      const total = alive.reduce((sum, [, n]) => sum + n, 0) || 1;
      document.querySelector("#alive tbody").replaceChildren(...alive.map(([bucket, n]) =>
        mallcast.el("tr", {}, mallcast.el("th", { scope: "row", text: buckets[bucket] || bucket }),
          mallcast.el("td", { text: number(n) }), mallcast.el("td", { text: charts.percent(n / total) }))));
      charts.bars(document.getElementById("weeks-chart"), figures.weeks.map((w) => ({
        day: w.week, series: { active: w.active, new: w.new, lapsed: w.lapsed } })),
        ["active", "new", "lapsed"], "Active, new and lapsed members per week");
      document.querySelector("#weeks-table tbody").replaceChildren(...[...figures.weeks].reverse().map((w) =>
        mallcast.el("tr", {}, mallcast.el("th", { scope: "row", text: w.week }),
          ...[number(w.active), number(w.new),
              w.activated === null ? "–" : `${number(w.activated)} (${charts.percent(w.activation_rate || 0)})`,
              number(w.purchases), w.purchase_frequency === null ? "–" : w.purchase_frequency.toFixed(2),
              money(w.average_order_value), money(w.revenue), number(w.lapsed)]
            .map((text) => mallcast.el("td", { text })))));
    } catch (problem) {
      status.textContent = problem.message;
    }
  }

  form.addEventListener("change", show);
  form.addEventListener("submit", (event) => { event.preventDefault(); show(); });
  show();
})();

(() => {
  const form = document.getElementById("member-form");
  if (!form) return;
  const what = { visit: "Visited the mall", dwell: "Stayed in", push: "Was pushed offer",
    holdout: "Was held out of offer", open: "Opened offer", redemption: "Redeemed offer",
    purchase: "Bought", refund: "Returned" };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    mallcast.clearErrors(form);
    const place = document.getElementById("member");
    try {
      const view = await mallcast.api("POST", form.dataset.url, { member_id: form.elements.member_id.value });
      const s = view.standing;
      const facts = s === null ? [mallcast.el("p", { class: "hint", text: "Not placed by the lifecycle job yet." })] : [
        mallcast.el("p", { text: `Segments: ${s.segments.join(", ") || "none"}`
          + (s.tier ? `; ${s.tier} frequency drop (${charts.percent(s.frequency_drop)})` : "") }),
        mallcast.el("p", { text: `${s.purchases} purchase days, the last on ${s.last_purchase || "–"}; `
          + (s.p_alive === null ? "not modelled yet" : `${charts.percent(s.p_alive)} chance of still buying, `
          + `${s.expected_purchases.toFixed(1)} purchases and ${s.predicted_value.toFixed(2)} expected ahead`) }),
      ];
      const items = view.timeline.map((e) => mallcast.el("li", {},
        mallcast.el("strong", { text: new Date(e.at).toLocaleString() }), " ",
        [what[e.kind] || e.kind, e.zone, e.promotion_id ? `#${e.promotion_id}` : null,
         e.minutes ? `${e.minutes} min` : null, e.amount ? `${e.amount} ${e.currency || ""}` : null]
          .filter(Boolean).join(" ")));
      place.replaceChildren(mallcast.el("h3", { text: `Member ${view.member} (${view.devices} linked devices)` }),
        ...facts, mallcast.el("ol", { class: "why" }, ...items),
        view.truncated ? mallcast.el("p", { class: "hint", text: "Older entries left off." }) : null);
    } catch (problem) {
      place.replaceChildren();
      mallcast.showErrors(form, problem);
    }
  });
})();
