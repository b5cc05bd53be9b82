// Starts Swagger UI on /docs. Kept in a file: the Content-Security-Policy forbids inline script.
// The bundled Swagger UI (4.x) renders OpenAPI 3.0 documents only; FastAPI writes 3.1.0, whose
// schemas here use nothing 3.0 cannot show, so the document is shown as 3.0.3.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout",
    responseInterceptor: function (res) {
      if (res.url && res.url.endsWith("/openapi.json") && res.body && res.body.openapi) {
        res.body.openapi = "3.0.3";
        res.obj = res.body;
        if (typeof res.text === "string") {
          res.text = JSON.stringify(res.body);
          res.data = res.text;
        }
      }
      return res;
    },
  });
});
