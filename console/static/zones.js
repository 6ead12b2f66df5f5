// Floors and zones: click a zone to edit its properties, reshape it by dragging its corners,
// draw a new one corner by corner, delete it. Every change goes through the zones API.
"use strict";

(() => {
  const plan = JSON.parse(document.getElementById("plan").textContent);
  const mallId = plan.mall.id;
  const form = document.getElementById("zone-form");
  const input = (name) => form.querySelector(`[name="${name}"]`);
  let selected = null; // the feature being edited (null: a new zone being drawn)
  let newShape = null; // lon/lat ring of a zone drawn but not saved yet
  let handles = null; // corner markers while reshaping
  let drawing = null; // {points: [], line} while drawing

  const floor = floorMap(document.getElementById("map"), plan, {
    onZoneClick: (feature) => { if (!drawing) select(feature); },
    styleFor: (feature) => (selected && feature.id === selected.id ? { weight: 4, color: "#111" } : {}),
  });
  levelPicker(document.getElementById("level"), plan, floor);
  document.getElementById("level").addEventListener("change", () => { closeForm(); list(); });

  function list() {
    const shown = plan.features.filter((f) => f.properties.kind !== "footprint" &&
      (f.properties.level === floor.level || f.properties.level === null));
    shown.sort((a, b) => a.properties.name.localeCompare(b.properties.name));
    document.getElementById("zone-list").replaceChildren(...shown.map((f) => mallcast.el("li", {},
      mallcast.el("button", { type: "button", class: "link", text: f.properties.name,
                              onclick: () => select(f) }),
      mallcast.el("span", { class: "hint", text: ` ${f.properties.kind.replace("_", " ")}` }))));
  }

  function select(feature) {
    stopReshape();
    selected = feature;
    newShape = null;
    const p = feature.properties;
    document.getElementById("zone-heading").textContent = p.name;
    input("properties.name").value = p.name;
    input("properties.kind").value = p.kind;
    input("properties.occupancy").value = p.occupancy_set ? p.occupancy : "";
    input("properties.dwell_seconds").value = p.dwell_seconds;
    input("properties.tenant").value = p.tenant ?? "";
    document.getElementById("reshape").hidden = false;
    document.getElementById("delete-zone").hidden = false;
    mallcast.clearErrors(form);
    form.hidden = false;
    floor.restyle();
    input("properties.name").focus();
  }

  function closeForm() {
    stopReshape();
    selected = null;
    newShape = null;
    form.hidden = true;
    floor.restyle();
  }

  function properties() {
    const number = (name) => (input(name).value === "" ? null : Number(input(name).value));
    return {
      name: input("properties.name").value, kind: input("properties.kind").value,
      occupancy: input("properties.occupancy").value || null,
      dwell_seconds: number("properties.dwell_seconds") ?? 60,
      tenant: number("properties.tenant"),
    };
  }

  function replaceFeature(saved) {
    const at = plan.features.findIndex((f) => f.id === saved.id);
    if (at >= 0) plan.features[at] = saved; else plan.features.push(saved);
    floor.redraw();
    list();
    select(saved);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      let saved;
      if (selected) {
        const patch = { type: "Feature", properties: properties() };
        if (handles) patch.geometry = { type: "Polygon", coordinates: [ringFromHandles()] };
        saved = await mallcast.api("PATCH", `/v1/malls/${mallId}/zones/${selected.id}`, patch);
      } else {
        saved = await mallcast.api("POST", `/v1/malls/${mallId}/zones`, {
          type: "Feature", geometry: { type: "Polygon", coordinates: [newShape] },
          properties: Object.assign(properties(), { level: floor.level }),
        });
      }
      replaceFeature(saved);
      mallcast.say(`Saved ${saved.properties.name}.`);
    } catch (problem) {
      mallcast.showErrors(form, problem);
    }
  });

  document.getElementById("delete-zone").addEventListener("click", async () => {
    if (!selected || !confirm(`Delete the zone ${selected.properties.name}?`)) return;
    try {
      await mallcast.api("DELETE", `/v1/malls/${mallId}/zones/${selected.id}`);
      plan.features = plan.features.filter((f) => f.id !== selected.id);
      const name = selected.properties.name;
      closeForm();
      floor.redraw();
      list();
      mallcast.say(`Deleted ${name}.`);
    } catch (problem) {
      mallcast.showErrors(form, problem);
    }
  });

  // -- reshape: a draggable handle on each corner of the outer ring ----------------------------
  function ringFromHandles() {
    const ring = handles.map((h) => floor.unproject(h.getLatLng()));
    ring.push(ring[0]);
    return ring;
  }
  function stopReshape() {
    if (handles) handles.forEach((h) => h.remove());
    handles = null;
  }
  document.getElementById("reshape").addEventListener("click", () => {
    if (!selected || handles) return;
    const geometry = selected.geometry;
    const outer = geometry.type === "Polygon" ? geometry.coordinates[0] : geometry.coordinates[0][0];
    const layer = floor.layer(selected.id);
    handles = outer.slice(0, -1).map((corner) => {
      const handle = L.marker(floor.project(corner), {
        draggable: true, keyboard: true, title: "Drag this corner",
        icon: L.divIcon({ className: "corner", iconSize: [12, 12] }),
      }).addTo(floor.map);
      handle.on("drag", () => layer.setLatLngs([handles.map((h) => h.getLatLng())]));
      return handle;
    });
    mallcast.say("Drag the corners, then Save.");
  });

  // -- draw: corners by clicking, then the same form --------------------------------------------
  const help = document.getElementById("draw-help");
  document.getElementById("draw").addEventListener("click", () => {
    closeForm();
    drawing = { points: [], line: L.polyline([], { color: "#111", dashArray: "4 4" }).addTo(floor.map) };
    help.hidden = false;
    floor.map.getContainer().classList.add("drawing");
  });
  floor.map.on("click", (event) => {
    if (!drawing) return;
    drawing.points.push(event.latlng);
    drawing.line.setLatLngs([...drawing.points, drawing.points[0]]);
  });
  function stopDrawing() {
    drawing?.line.remove();
    drawing = null;
    help.hidden = true;
    floor.map.getContainer().classList.remove("drawing");
  }
  document.getElementById("cancel-draw").addEventListener("click", stopDrawing);
  document.getElementById("finish").addEventListener("click", () => {
    if (!drawing || drawing.points.length < 3) {
      mallcast.say("A zone needs at least three corners.", "error-text");
      return;
    }
    const ring = drawing.points.map((p) => floor.unproject(p));
    ring.push(ring[0]);
    stopDrawing();
    selected = null;
    newShape = ring;
    L.polygon([ring.map(floor.project)], { color: "#111", dashArray: "4 4" }).addTo(floor.map);
    document.getElementById("zone-heading").textContent = "New zone";
    form.reset();
    input("properties.dwell_seconds").value = 60;
    document.getElementById("reshape").hidden = true;
    document.getElementById("delete-zone").hidden = true;
    mallcast.clearErrors(form);
    form.hidden = false;
    input("properties.name").focus();
  });

  list();
})();
