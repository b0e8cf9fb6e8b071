// Starts Swagger UI on /docs. A file of its own rather than an inline script, so that the
// page runs under keten's Content-Security-Policy (script-src 'self').
"use strict";
window.addEventListener("load", function () {
  var holder = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: holder.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // no badge from an online validator: /docs must not reach other sites
    validatorUrl: null,
    // the key typed into "Authorize" stays in the tab, never in localStorage
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
});
