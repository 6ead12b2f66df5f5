// A mall's floor plan on a Leaflet map in a local metric frame (metres east and north of the
// plan's centre, L.CRS.Simple): no tiles, no network. Zones are coloured by kind and labelled
// with their names as text (a name is data, never markup).
"use strict";

const KIND_COLOURS = {
  store: "#4e79a7", restaurant: "#f28e2b", food_court: "#e15759", corridor: "#c9c9c9",
  atrium: "#bab0ac", entrance: "#59a14f", parking: "#9c755f", escalator: "#b07aa1",
  elevator: "#b07aa1", stairs: "#b07aa1", restroom: "#76b7b2", seating: "#edc948",
  service: "#8c8c8c", event_area: "#ff9da7", vacant: "#eeeeee", footprint: "#666666",
  other: "#d37295",
};
const M_PER_DEG = 111320;

function floorMap(container, plan, options = {}) {
  const coordinates = [];
  const walk = (c) => (typeof c[0] === "number" ? coordinates.push(c) : c.forEach(walk));
  plan.features.forEach((f) => walk(f.geometry.coordinates));
  const lons = coordinates.map((c) => c[0]);
  const lats = coordinates.map((c) => c[1]);
  const lon0 = coordinates.length ? (Math.min(...lons) + Math.max(...lons)) / 2 : 0;
  const lat0 = coordinates.length ? (Math.min(...lats) + Math.max(...lats)) / 2 : 0;
  const cos = Math.cos((lat0 * Math.PI) / 180);
  const project = ([lon, lat]) => [(lat - lat0) * M_PER_DEG, (lon - lon0) * M_PER_DEG * cos];
  const unproject = (p) => [lon0 + p.lng / (M_PER_DEG * cos), lat0 + p.lat / M_PER_DEG];

  const map = L.map(container, {
    crs: L.CRS.Simple, minZoom: -4, maxZoom: 5, zoomSnap: 0.25, attributionControl: false,
    keyboard: true,
  });
  const drawn = L.layerGroup().addTo(map);
  const byId = new Map();
  const ground = plan.levels.find((l) => l.ordinal === 0) ?? plan.levels[0];
  let level = options.level ?? (ground?.ordinal ?? null);

  function rings(geometry) {
    const polygons = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
    return polygons.map((polygon) => polygon.map((ring) => ring.map(project)));
  }

  function style(feature) {
    const colour = KIND_COLOURS[feature.properties.kind] || KIND_COLOURS.other;
    const base = { color: "#333", weight: 1, fillColor: colour, fillOpacity: 0.55 };
    return Object.assign(base, options.styleFor ? options.styleFor(feature) : {});
  }

  function draw() {
    drawn.clearLayers();
    byId.clear();
    const shown = plan.features.filter((f) => f.properties.level === level || f.properties.level === null);
    for (const feature of shown) {
      if (feature.properties.kind === "footprint") continue;
      const layer = L.polygon(rings(feature.geometry), style(feature));
      const label = document.createElement("span");
      label.textContent = feature.properties.name;
      layer.bindTooltip(label, { direction: "center", className: "zone-label", permanent: true });
      layer.on("click", () => options.onZoneClick?.(feature, layer));
      layer.feature = feature;
      layer.addTo(drawn);
      byId.set(feature.id, layer);
    }
    const bounds = drawn.getLayers().length ? L.featureGroup(drawn.getLayers()).getBounds() : null;
    if (bounds && bounds.isValid()) map.fitBounds(bounds, { padding: [10, 10] });
    else map.setView([0, 0], 0);
    // The paths exist once the map has a view: each says which zone it draws.
    for (const [id, layer] of byId) layer.getElement()?.setAttribute("data-zone", id);
    labels();
  }

  // A name is shown where it fits in its zone at this zoom; the others on a closer look.
  function labels() {
    for (const layer of byId.values()) {
      const element = layer.getTooltip()?.getElement();
      if (!element) continue;
      const bounds = layer.getBounds();
      const a = map.latLngToContainerPoint(bounds.getSouthWest());
      const b = map.latLngToContainerPoint(bounds.getNorthEast());
      const fits = Math.abs(b.x - a.x) >= element.offsetWidth * 0.8 && Math.abs(b.y - a.y) >= 12;
      element.classList.toggle("hidden-label", !fits);
    }
  }
  map.on("zoomend", labels);

  function restyle() {
    for (const layer of byId.values()) layer.setStyle(style(layer.feature));
  }

  function showLevel(ordinal) {
    level = ordinal;
    draw();
  }

  draw();
  return { map, project, unproject, showLevel, restyle, redraw: draw, layer: (id) => byId.get(id),
           get level() { return level; } };
}

// A <select> of the plan's levels that switches the map.
function levelPicker(select, plan, floor) {
  for (const level of plan.levels) {
    select.append(mallcast.el("option", { value: level.ordinal, text: `${level.name} (${level.ordinal})` }));
  }
  select.value = String(floor.level);
  select.addEventListener("change", () => floor.showLevel(Number(select.value)));
}
