// Importing a floor plan: the file is drawn, a dry run checks every feature, the refused ones
// turn red with their reasons, those to look at again amber, and one click imports what the dry
// run passed.
"use strict";

(() => {
  const form = document.getElementById("import-form");
  const mallId = form.dataset.mall;
  const refusedList = document.getElementById("refused");
  const warnedList = document.getElementById("warned");
  const summary = document.getElementById("import-summary");
  const importButton = document.getElementById("do-import");
  let floor = null;
  let body = null;  // the plan as sent: parsed GeoJSON, or the bytes of an IMDF archive

  function query(dryRun) {
    const params = new URLSearchParams({ dry_run: dryRun });
    if (body instanceof ArrayBuffer) return params;  // an archive names its own levels
    if (form.elements.level.value !== "") params.set("level", form.elements.level.value);
    if (form.elements.replace.checked) params.set("replace", "true");
    return params;
  }

  function draw(collection, refused, warned) {
    const features = (collection.features || []).filter((f) => f && f.geometry && Array.isArray(f.geometry.coordinates))
      .map((f, index) => ({ id: f.__index ?? index, geometry: f.geometry,
        properties: { name: String(f.properties?.name ?? `feature ${index}`), kind: f.properties?.kind ?? "store", level: null } }));
    const container = document.getElementById("map");
    if (floor) floor.map.remove();
    floor = floorMap(container, { features, levels: [] }, {
      level: null,
      styleFor: (feature) => (refused.has(feature.id)
        ? { fillColor: "#d62728", color: "#8b0000", weight: 3, fillOpacity: 0.7, className: "refused-zone" }
        : warned.has(feature.id)
          ? { fillColor: "#ffbf00", color: "#8a6100", weight: 2, fillOpacity: 0.5, className: "warned-zone" } : {}),
    });
  }

  async function check(event) {
    event?.preventDefault();
    mallcast.clearErrors(form);
    importButton.disabled = true;
    summary.textContent = "";
    const file = form.elements.file.files[0];
    if (!file) { form.querySelector(".form-error").textContent = "Choose a file first."; return; }
    const bytes = await file.arrayBuffer();
    const zipped = new Uint8Array(bytes.slice(0, 2));
    let collection = { features: [] };
    if (zipped[0] === 0x50 && zipped[1] === 0x4b) {  // "PK": a zip, the server reads it as IMDF
      body = bytes;
    } else {
      try { collection = JSON.parse(new TextDecoder().decode(bytes)); } catch (error) {
        form.querySelector(".form-error").textContent = `This file is neither JSON nor an IMDF archive: ${error.message}`;
        return;
      }
      body = collection;
    }
    (collection.features || []).forEach((f, index) => { if (f && typeof f === "object") f.__index = index; });
    const refused = new Map();
    const warned = new Set();
    let warnings = [];
    try {
      const result = await mallcast.api("POST", `/v1/malls/${mallId}/zones/import?${query(true)}`, body);
      warnings = result.warnings || [];
      for (const warning of warnings) warned.add(warning.index);
      summary.textContent = `All ${result.created + result.updated} features pass: ${result.created} new, ${result.updated} updated` +
        (result.deleted ? `, ${result.deleted} deleted` : "") +
        (result.levels_created?.length ? `, floors ${result.levels_created.join(", ")} new` : "") +
        (warned.size ? `; ${warned.size} to look at again` : "") + ". Press Import to store them.";
      importButton.disabled = false;
    } catch (problem) {
      const errors = problem.error?.details?.errors;
      if (errors) for (const error of errors) refused.set(error.index, error);
      else if ((collection.features || []).length === 1) refused.set(0, problem.error);
      summary.textContent = problem.message;
    }
    refusedList.replaceChildren(...(refused.size ? [...refused.entries()].map(([index, error]) =>
      mallcast.el("li", { "data-index": index },
        mallcast.el("strong", { text: error.name || error.ref || `Feature ${index}` }),
        mallcast.el("span", { text: `: ${error.message}` })))
      : [mallcast.el("li", { class: "hint", text: "None." })]));
    warnedList.replaceChildren(...(warnings.length ? groups(warnings)
      : [mallcast.el("li", { class: "hint", text: "None." })]));
    if (body instanceof ArrayBuffer) {  // the archive's shapes are the server's to read
      if (floor) floor.map.remove();
      floor = null;
    } else draw(collection, refused, warned);
  }

  // One line per kind of warning (a plan without kinds has hundreds of the same), its features
  // folded under it.
  function groups(warnings) {
    const byCode = new Map();
    for (const warning of warnings) byCode.set(warning.code, [...(byCode.get(warning.code) || []), warning]);
    return [...byCode.values()].map((same) => mallcast.el("li", { "data-code": same[0].code },
      mallcast.el("span", { text: same.length > 1 ? `${same.length} features: ${same[0].message}` : same[0].message }),
      mallcast.el("details", {},
        mallcast.el("summary", { text: "Which" }),
        mallcast.el("p", { text: same.map((w) => w.name || w.ref || `feature ${w.index}`).join(", ") }))));
  }

  form.addEventListener("submit", check);
  form.addEventListener("change", () => { importButton.disabled = true; });
  importButton.addEventListener("click", async () => {
    try {
      const result = await mallcast.api("POST", `/v1/malls/${mallId}/zones/import?${query(false)}`, body);
      summary.textContent = `Imported: ${result.created} new, ${result.updated} updated` +
        (result.deleted ? `, ${result.deleted} deleted` : "") + ".";
      importButton.disabled = true;
    } catch (problem) {
      mallcast.showErrors(form, problem);
    }
  });
})();
