/* Draws the figures the server embedded as JSON (<script type="application/json">) with
   plotly.js, served from this server: the dashboard never loads anything from the internet. */
(function () {
  "use strict";

  // No logo link and no "share to Plotly Cloud" button: nothing may leave the intranet.
  var CONFIG = {
    responsive: true,
    displaylogo: false,
    plotlyServerURL: "",
    showSendToCloud: false,
    showEditInChartStudio: false,
    modeBarButtonsToRemove: ["sendChartToCloud", "lasso2d", "select2d", "autoScale2d"]
  };

  function drawAll() {
    if (!window.Plotly) {
      return;
    }
    var charts = document.querySelectorAll(".chart[data-figure]");
    Array.prototype.forEach.call(charts, function (element) {
      var source = document.getElementById(element.getAttribute("data-figure"));
      if (!source) {
        return;
      }
      var figure = JSON.parse(source.textContent);
      window.Plotly.newPlot(element, figure.data, figure.layout, CONFIG).then(function () {
        element.setAttribute("data-drawn", "true");
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
