// Draws the network of a keten page from its JSON block (no inline script needed).
//
// Labels are drawn by this script, not by vis-network: at a fixed size on screen whatever
// the zoom, for the nodes that matter first (the page marks them `important`: sources, the
// earliest hit, the interests, a view's focus), then for the others in the page's order of
// relevance wherever a label fits without covering another one; the hovered node's label is
// always drawn. Edge labels are drawn only where the edge is long enough to hold them and
// nothing else is in the way. What was drawn is kept in window.ketenLabels (boxes in CSS
// pixels of the graph container), so tests can measure sizes and overlaps.
//
// Pages laid out by keten (a cascade) come with positions and run no physics; the others run
// a bounded stabilisation and then switch physics off, so large pages stay responsive.
// The container reports what it drew in data-drawn, data-node-count and data-label-count.
//
// vis-network is loaded `async`: the browser fetches and compiles it while a streamed page
// still waits for its analysis, instead of after the whole page arrived (`defer`), so the
// graph is drawn as soon as its data is in. This script (deferred) waits for it if need be.
"use strict";
function ketenDraw() {
  const holder = document.getElementById("graph");
  const block = document.getElementById("graph-data");
  if (!holder || !block) {
    return; // a page whose analysis ended in a problem has no graph
  }
  holder.dataset.startMs = String(Math.round(performance.now())); // the script began
  const data = JSON.parse(block.textContent);
  const NODE_PX = 14;
  const EDGE_PX = 12;
  const PAD = 3;
  const GAP = 4;
  const FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  const INK = "#1f2328";

  const byId = new Map(data.nodes.map((node) => [node.id, node]));
  const order = data.nodes.map((node) => node.id);
  const important = order.filter((id) => byId.get(id).important);
  const others = order.filter((id) => !byId.get(id).important);
  const nodes = new vis.DataSet(data.nodes);
  const edges = new vis.DataSet(data.edges);
  const network = new vis.Network(holder, {}, data.options);
  let hovered = null;
  let ready = false;

  function overlaps(a, b) {
    return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
  }

  function inside(box, width, height) {
    // moved into the container, so a label at its edge is shown whole
    const x = Math.min(Math.max(box.x, 0), Math.max(0, width - box.width));
    const y = Math.min(Math.max(box.y, 0), Math.max(0, height - box.height));
    return { x: x, y: y, width: box.width, height: box.height };
  }

  function free(box, obstacles) {
    return !obstacles.some((other) => overlaps(box, other));
  }

  function nodeSpots(centre, radius, textWidth, px) {
    const w = textWidth + 2 * PAD;
    const h = px + 2 * PAD;
    return [
      { x: centre.x + radius + GAP, y: centre.y - h / 2 },
      { x: centre.x - radius - GAP - w, y: centre.y - h / 2 },
      { x: centre.x - w / 2, y: centre.y + radius + GAP },
      { x: centre.x - w / 2, y: centre.y - radius - GAP - h },
    ].map((spot) => ({ x: spot.x, y: spot.y, width: w, height: h }));
  }

  function drawBox(ctx, label) {
    ctx.fillStyle = "rgba(255,255,255,0.88)";
    ctx.fillRect(label.x, label.y, label.width, label.height);
    ctx.fillStyle = INK;
    ctx.fillText(label.text, label.x + PAD, label.y + label.height / 2);
  }

  // A label goes where it covers no node and no other label; one that must be shown
  // (hovered or important) may cover a node when nothing else is free, never a label.
  function placeNodes(ctx, ids, positions, placed, shown, size, must) {
    const scale = network.getScale();
    ctx.font = NODE_PX + "px " + FAMILY;
    for (const id of ids) {
      const node = byId.get(id);
      if (!node || !positions[id]) {
        continue;
      }
      const centre = network.canvasToDOM(positions[id]);
      if (centre.x < 0 || centre.y < 0 || centre.x > size.width || centre.y > size.height) {
        continue; // panned out of sight
      }
      const radius = (node.size || 14) * scale;
      const text = node.name;
      const textWidth = ctx.measureText(text).width;
      const spots = nodeSpots(centre, radius, textWidth, NODE_PX).map((box) =>
        inside(box, size.width, size.height),
      );
      let spot = spots.find((box) => free(box, placed));
      if (!spot && must) {
        spot = spots.find((box) => free(box, shown));
      }
      if (spot) {
        const label = Object.assign(spot, { id: id, kind: "node", text: text, fontPx: NODE_PX });
        placed.push(label);
        shown.push(label);
        drawBox(ctx, label);
      }
    }
  }

  function placeEdges(ctx, positions, placed, shown, size) {
    const scale = network.getScale();
    ctx.font = EDGE_PX + "px " + FAMILY;
    edges.forEach((edge) => {
      if (!edge.text || !positions[edge.from] || !positions[edge.to]) {
        return;
      }
      const a = network.canvasToDOM(positions[edge.from]);
      const b = network.canvasToDOM(positions[edge.to]);
      const room =
        Math.hypot(b.x - a.x, b.y - a.y) -
        ((byId.get(edge.from).size || 14) + (byId.get(edge.to).size || 14)) * scale;
      const width = ctx.measureText(edge.text).width + 2 * PAD;
      const height = EDGE_PX + 2 * PAD;
      if (room < width + 2 * GAP) {
        return;
      }
      const box = { x: (a.x + b.x) / 2 - width / 2, y: (a.y + b.y) / 2 - height / 2, width, height };
      const within = box.x >= 0 && box.y >= 0 && box.x + width <= size.width && box.y + height <= size.height;
      if (within && free(box, placed)) {
        const label = Object.assign(box, { id: edge.id, kind: "edge", text: edge.text, fontPx: EDGE_PX });
        placed.push(label);
        shown.push(label);
        drawBox(ctx, label);
      }
    });
  }

  function shapes(positions) {
    const scale = network.getScale();
    const boxes = [];
    for (const id of order) {
      if (positions[id]) {
        const centre = network.canvasToDOM(positions[id]);
        const radius = (byId.get(id).size || 14) * scale;
        boxes.push({ x: centre.x - radius, y: centre.y - radius, width: 2 * radius, height: 2 * radius });
      }
    }
    return boxes;
  }

  function drawLabels(ctx) {
    const positions = network.getPositions();
    const size = { width: holder.clientWidth, height: holder.clientHeight };
    const placed = shapes(positions); // labels never cover a node
    const shown = [];
    const ratio = ctx.canvas.width / Math.max(1, size.width);
    ctx.save();
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.textBaseline = "middle";
    const first = hovered ? [hovered] : [];
    const musts = first.concat(important.filter((id) => id !== hovered));
    placeNodes(ctx, musts, positions, placed, shown, size, true);
    placeNodes(ctx, others.filter((id) => id !== hovered), positions, placed, shown, size, false);
    placeEdges(ctx, positions, placed, shown, size);
    ctx.restore();
    window.ketenLabels = shown;
    if (ready) {
      holder.dataset.labelCount = String(shown.length);
      if (holder.dataset.drawn !== "true") {
        holder.dataset.drawnMs = String(Math.round(performance.now())); // since navigation
      }
      holder.dataset.drawn = "true";
    }
  }

  function settled() {
    if (data.options.physics.enabled === false) {
      network.fit(); // laid out by keten: physics was never on (switching it off costs a redraw)
    } else {
      network.setOptions({ physics: { enabled: false } });
    }
    holder.dataset.nodeCount = String(network.body.data.nodes.length);
    holder.dataset.edgeCount = String(network.body.data.edges.length);
    ready = true;
    network.redraw();
  }

  network.on("afterDrawing", drawLabels);
  network.on("hoverNode", (params) => {
    hovered = params.node;
    network.redraw();
  });
  network.on("blurNode", () => {
    hovered = null;
    network.redraw();
  });
  network.on("doubleClick", function (params) {
    const link = params.nodes.length ? data.links[params.nodes[0]] : undefined;
    if (link) {
      window.location.assign(link);
    }
  });
  if (data.nodes.length > 0 && data.options.physics.enabled !== false) {
    network.once("stabilizationIterationsDone", settled);
    network.setData({ nodes: nodes, edges: edges });
  } else {
    network.setData({ nodes: nodes, edges: edges });
    holder.dataset.dataMs = String(Math.round(performance.now())); // the network has its data
    settled();
  }
  window.ketenNetwork = network;
}

if (window.vis) {
  ketenDraw();
} else {
  document.querySelector('script[src$="/vis-network.min.js"]').addEventListener("load", ketenDraw);
}
