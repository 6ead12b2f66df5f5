// Results: the funnel and the lift (with its 95% interval) per offer, and the daily funnel,
// from the same analytics endpoints the API serves; for operators, why a shopper got what.
"use strict";

(async () => {
  const root = document.getElementById("results");
  const [results, daily, liftDays, revenue] = await Promise.all([
    mallcast.api("GET", root.dataset.results), mallcast.api("GET", root.dataset.daily),
    mallcast.api("GET", root.dataset.lift), mallcast.api("GET", root.dataset.revenue),
  ]);
  document.getElementById("results-loading").remove();
  const rate = (x) => (x === null || x === undefined ? "–" : charts.percent(x));
  const rows = [
    ...results.promotions.map((p) => ({ label: p.title, funnel: p })),
    { label: "All offers", funnel: results.total },
  ];
  // Offers that reached nobody yet have no lift to draw: the table lists them.
  const reached = rows.filter(({ funnel }) => funnel.sent + funnel.held_out > 0 || funnel === results.total);
  charts.intervals(document.getElementById("lift-chart"), reached.map(({ label, funnel }) => ({
    label, value: funnel.lift.lift, low: funnel.lift.ci_low, high: funnel.lift.ci_high,
  })), "Difference in conversion, pushed minus held out, with 95% intervals");

  charts.band(document.getElementById("lift-day-chart"), liftDays.map((d) => ({
    day: d.day, value: d.lift.lift, low: d.lift.ci_low, high: d.lift.ci_high,
  })), "Lift of all offers at the end of each day, with its 95% interval");

  // The table lists what reached someone; the others are named below it.
  const idle = rows.filter(({ funnel }) => funnel !== results.total && funnel.sent + funnel.held_out + funnel.redeemed === 0);
  const listed = rows.filter((row) => !idle.includes(row));
  const body = document.querySelector("#funnel tbody");
  if (idle.length) {
    document.getElementById("funnel").after(mallcast.el("p", { class: "hint", id: "idle-offers",
      text: `Not sent to anyone yet: ${idle.map((row) => row.label).join(", ")}.` }));
  }
  body.replaceChildren(...listed.map(({ label, funnel }) => {
    const lift = funnel.lift;
    const interval = lift.lift === null ? "–"
      : `${rate(lift.lift)} (${rate(lift.ci_low)} to ${rate(lift.ci_high)})`;
    return mallcast.el("tr", {}, mallcast.el("th", { scope: "row", text: label }),
      ...[funnel.sent, funnel.delivered, funnel.held_out, funnel.opened, funnel.redeemed,
          rate(lift.treated_rate), rate(lift.holdout_rate), interval]
        .map((value) => mallcast.el("td", { text: value })));
  }));

  showRevenue(revenue, rate);

  const byDay = new Map();
  for (const row of daily) {
    const day = byDay.get(row.day) || { day: row.day, series: { sent: 0, "held out": 0, opened: 0, redeemed: 0 } };
    day.series.sent += row.sent;
    day.series["held out"] += row.held_out;
    day.series.opened += row.opened;
    day.series.redeemed += row.redeemed;
    byDay.set(row.day, day);
  }
  const days = [...byDay.values()].sort((a, b) => a.day.localeCompare(b.day));
  if (days.length) {
    charts.bars(document.getElementById("daily-chart"), days, ["sent", "held out", "opened", "redeemed"],
      "Pushes sent, held out, opened and redeemed per day (mall time; rolled up hourly)");
  } else {
    document.getElementById("daily-chart").replaceChildren(
      mallcast.el("p", { class: "hint", text: "No day rolled up yet (hourly)." }));
  }
})().catch((problem) => mallcast.say(problem.message, "error-text"));

// Revenue lift per offer and variant (tier); money in the mall's currency, intervals in brackets.
function showRevenue(revenue, rate) {
  const money = (x) => (x === null || x === undefined ? "–"
    : x.toLocaleString(undefined, { maximumFractionDigits: 2, minimumFractionDigits: 2 }));
  const interval = (i, show) => (i.estimate === null ? "–"
    : `${show(i.estimate)} (${show(i.low)} to ${show(i.high)})`);
  const tierName = { all: "all", base: "the offer itself", mild: "mild drop", severe: "severe drop" };
  document.getElementById("revenue-note").textContent =
    `In ${revenue.currency || "the mall's currency"}: a purchase in the offer's store within `
    + `${revenue.purchase_window_days} days counts; churn is no purchase in the mall within `
    + `${revenue.churn_window_days} days (only pairs whose window has ended).`;
  const rows = revenue.promotions.flatMap((p) => p.tiers.map((t) => ({ title: p.title, ...t })));
  const body = document.querySelector("#revenue tbody");
  if (!rows.length) {
    body.replaceChildren(mallcast.el("tr", {}, mallcast.el("td", { colspan: 8,
      text: "No loyalty member has been pushed or held out yet." })));
    return;
  }
  body.replaceChildren(...rows.map(({ title, tier, revenue: r }) => mallcast.el("tr", {},
    mallcast.el("th", { scope: "row", text: title }),
    ...[tierName[tier] || tier, `${r.treated} / ${r.holdout}`,
        `${rate(r.conversion_treated)} / ${rate(r.conversion_holdout)}`,
        `${money(r.revenue_per_shopper_treated)} / ${money(r.revenue_per_shopper_holdout)}`,
        interval(r.incremental_revenue_per_shopper, money),
        `${money(r.aov_treated)} / ${money(r.aov_holdout)}`,
        interval(r.churn_difference, rate)].map((text) => mallcast.el("td", { text })))));
}

(() => {
  const form = document.getElementById("why-form");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    mallcast.clearErrors(form);
    const params = new URLSearchParams({ device_id: form.elements.device_id.value.trim() });
    if (form.elements.promotion_id.value) params.set("promotion_id", form.elements.promotion_id.value);
    try {
      const decisions = await mallcast.api("GET", `/v1/malls/${form.dataset.mall}/decisions?${params}`);
      const list = document.getElementById("why");
      list.replaceChildren(...decisions.map((d) => mallcast.el("li", {},
        mallcast.el("strong", { text: `${new Date(d.at).toLocaleString()}: ${d.outcome}` }),
        mallcast.el("span", { text: d.promotion_id ? ` (offer ${d.promotion_id})` : "" }),
        mallcast.el("span", { text: d.reason ? `: ${d.reason}` : "" }))));
      if (!decisions.length) list.append(mallcast.el("li", { text: "No decision for this shopper." }));
    } catch (problem) {
      mallcast.showErrors(form, problem);
    }
  });
})();
