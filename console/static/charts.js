// Small SVG charts, drawn by hand: a forest plot of intervals and daily bars. Labels are text
// nodes (names are data).
"use strict";

const charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  function svg(tag, attributes = {}, text) {
    const node = document.createElementNS(NS, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  const percent = (x) => `${(x * 100).toFixed(1)}%`;

  // rows: [{label, value, low, high}] (fractions); null values are listed as "not enough data".
  function intervals(figure, rows, caption) {
    const width = 640, rowHeight = 28, left = 220, right = 20, top = 24;
    const known = rows.filter((r) => r.low !== null && r.high !== null);
    const extent = Math.max(0.01, ...known.flatMap((r) => [Math.abs(r.low), Math.abs(r.high)]));
    const x = (v) => left + ((v + extent) / (2 * extent)) * (width - left - right);
    const height = top + rows.length * rowHeight + 24;
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "intervals" });
    chart.append(svg("title", {}, caption));
    chart.append(svg("line", { x1: x(0), x2: x(0), y1: top - 8, y2: height - 20, class: "zero" }));
    chart.append(svg("text", { x: x(0), y: top - 12, "text-anchor": "middle", class: "axis" }, "no effect"));
    chart.append(svg("text", { x: x(-extent), y: height - 4, class: "axis" }, percent(-extent)));
    chart.append(svg("text", { x: x(extent), y: height - 4, "text-anchor": "end", class: "axis" }, `+${percent(extent)}`));
    rows.forEach((row, i) => {
      const y = top + i * rowHeight + rowHeight / 2;
      const label = row.label.length > 30 ? `${row.label.slice(0, 29)}…` : row.label;
      chart.append(svg("text", { x: 4, y: y + 4, class: "label" }, label));
      if (row.low === null || row.high === null) {
        chart.append(svg("text", { x: x(0) + 6, y: y + 4, class: "axis" }, "not enough data yet"));
        return;
      }
      const clear = row.low > 0 || row.high < 0;
      const group = svg("g", { class: clear ? "interval clear" : "interval", "data-label": row.label });
      group.append(svg("line", { x1: x(row.low), x2: x(row.high), y1: y, y2: y }));
      group.append(svg("circle", { cx: x(row.value), cy: y, r: 5 }));
      group.append(svg("title", {}, `${row.label}: ${percent(row.value)} (${percent(row.low)} to ${percent(row.high)})`));
      chart.append(group);
    });
    figure.replaceChildren(chart, Object.assign(document.createElement("figcaption"), { textContent: caption }));
  }

  // days: [{day, series: {name: count}}]; one group of bars per day.
  function bars(figure, days, names, caption) {
    const width = 640, height = 220, left = 40, bottom = 40, top = 10;
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "bars" });
    chart.append(svg("title", {}, caption));
    const most = Math.max(1, ...days.flatMap((d) => names.map((n) => d.series[n] || 0)));
    const slot = (width - left) / Math.max(1, days.length);
    const bar = Math.max(2, (slot - 6) / names.length);
    const y = (v) => height - bottom - (v / most) * (height - bottom - top);
    chart.append(svg("text", { x: 2, y: top + 8, class: "axis" }, String(most)));
    days.forEach((d, i) => {
      names.forEach((name, j) => {
        const value = d.series[name] || 0;
        const rect = svg("rect", { x: left + i * slot + j * bar, y: y(value), width: bar - 1,
                                   height: height - bottom - y(value), class: `series-${j}` });
        rect.append(svg("title", {}, `${d.day} ${name}: ${value}`));
        chart.append(rect);
      });
      if (days.length <= 14 || i % Math.ceil(days.length / 14) === 0) {
        chart.append(svg("text", { x: left + i * slot, y: height - bottom + 14, class: "axis" }, d.day.slice(5)));
      }
    });
    names.forEach((name, j) => {
      chart.append(svg("rect", { x: left + j * 110, y: height - 16, width: 10, height: 10, class: `series-${j}` }));
      chart.append(svg("text", { x: left + j * 110 + 14, y: height - 7, class: "axis" }, name));
    });
    figure.replaceChildren(chart, Object.assign(document.createElement("figcaption"), { textContent: caption }));
  }

  // days: [{day, value, low, high}] (fractions, null before there is data): a line with its
  // interval as a band, and the zero line.
  function band(figure, days, caption) {
    const width = 640, height = 220, left = 48, right = 10, top = 10, bottom = 30;
    const known = days.filter((d) => d.low !== null && d.high !== null);
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "band" });
    chart.append(svg("title", {}, caption));
    if (!known.length) {
      chart.append(svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "axis" },
        "not enough data yet: the band appears once both groups have shoppers"));
      figure.replaceChildren(chart, Object.assign(document.createElement("figcaption"), { textContent: caption }));
      return;
    }
    const extent = Math.max(0.01, ...known.flatMap((d) => [Math.abs(d.low), Math.abs(d.high)]));
    const x = (i) => left + (i / Math.max(1, days.length - 1)) * (width - left - right);
    const y = (v) => top + ((extent - v) / (2 * extent)) * (height - top - bottom);
    const index = new Map(days.map((d, i) => [d.day, i]));
    const upper = known.map((d) => `${x(index.get(d.day))},${y(d.high)}`);
    const lower = known.map((d) => `${x(index.get(d.day))},${y(d.low)}`).reverse();
    chart.append(svg("polygon", { points: [...upper, ...lower].join(" "), class: "interval-band" }));
    chart.append(svg("line", { x1: left, x2: width - right, y1: y(0), y2: y(0), class: "zero" }));
    chart.append(svg("polyline", { points: known.map((d) => `${x(index.get(d.day))},${y(d.value)}`).join(" "), class: "lift-line" }));
    for (const d of known) {
      const dot = svg("circle", { cx: x(index.get(d.day)), cy: y(d.value), r: 3, class: "lift-dot" });
      dot.append(svg("title", {}, `${d.day}: ${percent(d.value)} (${percent(d.low)} to ${percent(d.high)})`));
      chart.append(dot);
    }
    chart.append(svg("text", { x: 2, y: y(extent) + 10, class: "axis" }, `+${percent(extent)}`));
    chart.append(svg("text", { x: 2, y: y(0) + 4, class: "axis" }, "0"));
    chart.append(svg("text", { x: 2, y: y(-extent), class: "axis" }, percent(-extent)));
    chart.append(svg("text", { x: left, y: height - 8, class: "axis" }, days[0].day));
    chart.append(svg("text", { x: width - right, y: height - 8, "text-anchor": "end", class: "axis" }, days[days.length - 1].day));
    figure.replaceChildren(chart, Object.assign(document.createElement("figcaption"), { textContent: caption }));
  }

  return { intervals, bars, band, percent };
})();
