// Draws the network of a keten page from its JSON block (no inline script needed).
// After a bounded stabilisation physics is switched off, so large pages stay responsive;
// the container then reports what it drew in data-drawn and data-node-count.
"use strict";
(function () {
  const holder = document.getElementById("graph");
  const data = JSON.parse(document.getElementById("graph-data").textContent);
  const nodes = new vis.DataSet(data.nodes);
  const edges = new vis.DataSet(data.edges);
  // listen before the data arrives: a small graph may stabilise within setData
  const network = new vis.Network(holder, {}, data.options);

  function settled() {
    network.setOptions({ physics: { enabled: false } });
    holder.dataset.nodeCount = String(network.body.data.nodes.length);
    holder.dataset.edgeCount = String(network.body.data.edges.length);
    holder.dataset.drawn = "true";
  }

  if (data.nodes.length > 0) {
    network.once("stabilizationIterationsDone", settled);
    network.setData({ nodes: nodes, edges: edges });
  } else {
    settled();
  }
  network.on("doubleClick", function (params) {
    const link = params.nodes.length ? data.links[params.nodes[0]] : undefined;
    if (link) {
      window.location.assign(link);
    }
  });
  window.ketenNetwork = network;
})();
