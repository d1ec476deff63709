// The case page: the cluster graph (cytoscape.js) and the hourly traffic charts (Chart.js).
// Data comes from data-* attributes the server rendered (JSON), so the page needs no inline script.
(function () {
  "use strict";

  var STATUS_COLOURS = {
    enforced: "#c0392b", review: "#e67e22", monitored: "#2980b9", shadow: "#8e44ad",
    reversed: "#16a085", rejected: "#7f8c8d", none: "#95a5a6", cluster: "#34495e"
  };
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                 "#bcbd22", "#7f7f7f"];

  function colourScale(values, fixed) {
    var scale = {};
    var next = 0;
    values.forEach(function (value) {
      if (scale[value] !== undefined) { return; }
      if (fixed && fixed[value]) { scale[value] = fixed[value]; return; }
      scale[value] = value === "unknown" ? "#bdc3c7" : PALETTE[next++ % PALETTE.length];
    });
    return scale;
  }

  function renderLegend(list, scale) {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    Object.keys(scale).forEach(function (value) {
      var item = document.createElement("li");
      var swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.backgroundColor = scale[value];  // CSSOM, allowed by style-src 'self'
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(value));
      list.appendChild(item);
    });
  }

  function drawGraph() {
    var container = document.getElementById("cluster-graph");
    if (!container || typeof window.cytoscape !== "function") { return; }
    var elements = JSON.parse(container.dataset.elements || '{"nodes": [], "edges": []}');
    var hasHub = elements.nodes.some(function (n) { return n.data.hub === "yes"; });
    var accounts = elements.nodes.filter(function (n) { return n.data.hub !== "yes"; }).length;
    var layout = hasHub
      ? { name: "concentric", concentric: function (node) { return node.data("hub") === "yes" ? 2 : 1; },
          levelWidth: function () { return 1; }, minNodeSpacing: 12, animate: false }
      : (accounts <= 200 ? { name: "cose", animate: false, randomize: false, nodeRepulsion: 40000, idealEdgeLength: 110,
                             nodeOverlap: 20, padding: 20 }
                         : { name: "grid", animate: false });
    var cy = window.cytoscape({
      container: container,
      elements: elements,
      wheelSensitivity: 0.3,
      style: [
        { selector: "node", style: {
            "background-color": "data(colour)", "label": "data(label)", "font-size": 8, "color": "#222",
            "text-valign": "bottom", "text-margin-y": 2, "width": 14, "height": 14,
            "border-width": 1, "border-color": "#fff" } },
        { selector: "node[hub = 'yes']", style: {
            "shape": "round-rectangle", "width": 60, "height": 26, "label": "data(label)", "text-valign": "center",
            "color": "#fff", "font-size": 8, "text-margin-y": 0 } },
        { selector: "edge", style: {
            "width": "mapData(score, 0, 1, 0.5, 3)", "line-color": "#b0b7bf", "curve-style": "bezier",
            "font-size": 7, "color": "#444", "text-rotation": "autorotate",
            "text-background-color": "#fff", "text-background-opacity": 0.85, "text-background-padding": 1 } },
        // Link labels (evidence kind and score) on every edge of a small graph; on a busy one only around the
        // account under the pointer or selected, so the graph stays readable.
        { selector: "edge.labelled", style: { "label": "data(label)" } },
        { selector: "edge.near", style: { "label": "data(label)", "line-color": "#5d6d7e" } },
        { selector: ":selected", style: { "border-width": 3, "border-color": "#111", "line-color": "#111" } }
      ],
      layout: layout,
      minZoom: 0.2,
      maxZoom: 3
    });
    // A small cluster would otherwise be zoomed until each account fills the panel.
    if (cy.zoom() > 1.3) { cy.zoom(1.3); cy.center(); }
    if (cy.edges().length <= 40) { cy.edges().addClass("labelled"); }
    cy.on("mouseover", "node", function (event) { event.target.connectedEdges().addClass("near"); });
    cy.on("mouseout", "node", function (event) {
      if (!event.target.selected()) { event.target.connectedEdges().removeClass("near"); }
    });
    cy.on("select", "node", function (event) { event.target.connectedEdges().addClass("near"); });
    cy.on("unselect", "node", function (event) { event.target.connectedEdges().removeClass("near"); });

    var select = document.getElementById("graph-colour");
    var legend = document.getElementById("graph-legend");
    function recolour(fact) {
      var values = cy.nodes().map(function (node) {
        return node.data("hub") === "yes" ? "cluster" : (node.data(fact) || "unknown");
      });
      var scale = colourScale(values, fact === "status" ? STATUS_COLOURS : { cluster: STATUS_COLOURS.cluster });
      cy.batch(function () {
        cy.nodes().forEach(function (node) {
          var value = node.data("hub") === "yes" ? "cluster" : (node.data(fact) || "unknown");
          node.data("colour", scale[value]);
        });
      });
      if (legend) { renderLegend(legend, scale); }
    }
    recolour("status");
    if (select) { select.addEventListener("change", function () { recolour(select.value); }); }

    var detail = document.getElementById("graph-detail");
    cy.on("tap", "node", function (event) {
      if (detail) { detail.textContent = event.target.data("title") || event.target.id(); }
    });
    cy.on("tap", "edge", function (event) {
      var data = event.target.data();
      if (detail) { detail.textContent = data.source + " — " + data.target + ": score " + data.score + ". " + (data.detail || data.kind); }
    });

    container.dataset.nodeCount = String(cy.nodes().length);
    container.dataset.accountCount = String(accounts);
    container.dataset.edgeCount = String(cy.edges().length);
    container.dataset.rendered = "yes";
    window.distillguardGraph = cy;  // for tests and for poking around in the browser console
  }

  function drawCharts() {
    var holder = document.getElementById("traffic");
    if (!holder || typeof window.Chart !== "function") { return; }
    var data = JSON.parse(holder.dataset.timeline);
    var common = { animation: false, responsive: true, maintainAspectRatio: false,
                   interaction: { mode: "index", intersect: false } };
    var volume = new window.Chart(document.getElementById("chart-volume"), {
      type: "bar",
      data: { labels: data.labels, datasets: [
        { label: "requests", data: data.requests, backgroundColor: "#2980b9", yAxisID: "requests" },
        { label: "tokens", data: data.tokens, type: "line", borderColor: "#e67e22", backgroundColor: "#e67e22",
          pointRadius: 0, yAxisID: "tokens" }
      ] },
      options: Object.assign({}, common, { scales: {
        requests: { type: "linear", position: "left", beginAtZero: true, title: { display: true, text: "requests" } },
        tokens: { type: "linear", position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
                  title: { display: true, text: "tokens" } } } })
    });
    var models = Object.keys(data.models);
    var scale = colourScale(models);
    var mix = new window.Chart(document.getElementById("chart-models"), {
      type: "bar",
      data: { labels: data.labels, datasets: models.map(function (model) {
        return { label: model, data: data.models[model], backgroundColor: scale[model] };
      }) },
      options: Object.assign({}, common, { scales: { x: { stacked: true },
        y: { stacked: true, beginAtZero: true, title: { display: true, text: "requests by model" } } } })
    });
    holder.dataset.rendered = "yes";
    window.distillguardCharts = [volume, mix];
  }

  function start() {
    drawGraph();
    drawCharts();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
