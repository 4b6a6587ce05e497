/* Sends the chosen file to the API (POST /api/v1/uploads/{kind}) as multipart; the HttpOnly
   session cookie authenticates the request and the page's CSRF token vouches for it. Shows
   the accepted upload, or the problems by row, column and reason, asked for in the page's
   language. Text comes from the page (#upload-strings); data is inserted as text only. */
(function () {
  "use strict";

  var form = document.getElementById("upload-form");
  if (!form) {
    return;
  }
  var strings = JSON.parse(document.getElementById("upload-strings").textContent);
  var result = document.getElementById("upload-result");
  var button = document.getElementById("upload-submit");
  var api = form.getAttribute("data-api");

  /* The session's CSRF token, which every write made with the session cookie must carry. */
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function format(text, values) {
    return text.replace(/\{(\w+)\}/g, function (match, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : match;
    });
  }

  function element(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    if (className) {
      node.className = className;
    }
    return node;
  }

  function show(state, nodes) {
    result.className = "result " + state;
    result.replaceChildren.apply(result, nodes);
  }

  function showProblems(body) {
    var table = element("table");
    table.id = "problems-table";
    var head = element("thead");
    var headRow = element("tr");
    [strings.row, strings.column, strings.problem_reason].forEach(function (label) {
      headRow.appendChild(element("th", label));
    });
    head.appendChild(headRow);
    var rows = element("tbody");
    body.problems.forEach(function (problem) {
      var row = element("tr");
      row.appendChild(element("td", problem.row === null ? "—" : problem.row, "num"));
      row.appendChild(element("td", problem.column === null ? "—" : problem.column));
      row.appendChild(element("td", problem.reason));
      rows.appendChild(row);
    });
    table.appendChild(head);
    table.appendChild(rows);
    var wrap = element("div", null, "table-wrap");
    wrap.appendChild(table);
    show("error", [
      element("p", strings.upload_rejected, "headline"),
      element("p", format(strings.problems_total, { total: body.total })),
      wrap
    ]);
  }

  function refreshUploads() {
    fetch(api + "/uploads?limit=20", { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (page) {
        if (!page) {
          return;
        }
        var body = document.querySelector("#recent-uploads tbody");
        var rows = page.items.map(function (upload) {
          var row = element("tr");
          [
            ["#" + upload.id, "num"],
            [strings.kinds[upload.kind] || upload.kind],
            [upload.uploader],
            [upload.filename || ""],
            [Number(upload.row_count).toLocaleString("en-US"), "num"],
            [Number(upload.replaced_rows).toLocaleString("en-US"), "num"],
            [String(upload.created_at).slice(0, 16).replace("T", " ") + " UTC"]
          ].forEach(function (cell) {
            row.appendChild(element("td", cell[0], cell[1]));
          });
          return row;
        });
        body.replaceChildren.apply(body, rows);
      })
      .catch(function () { /* the list is a convenience; the result above is what matters */ });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var kind = form.elements.kind.value;
    var file = form.elements.file.files[0];
    if (!file) {
      show("error", [element("p", strings.upload_choose_file)]);
      return;
    }
    var data = new FormData();
    data.append("file", file, file.name);
    button.disabled = true;
    show("pending", [element("p", strings.upload_sending)]);
    fetch(api + "/uploads/" + encodeURIComponent(kind), {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        /* The problems come back in the page's language (the API reads Accept-Language). */
        "Accept-Language": document.documentElement.lang || "en",
        "X-CSRF-Token": csrfToken()
      }
    })
      .then(function (response) {
        return response.json()
          .catch(function () { return { detail: response.statusText }; })
          .then(function (body) { return { status: response.status, body: body }; });
      })
      .then(function (answer) {
        var body = answer.body || {};
        if (answer.status === 200 || answer.status === 201) {
          var upload = body.upload;
          var text = body.created ? strings.upload_accepted : strings.upload_duplicate;
          show("ok", [element("p", format(text, { rows: upload.row_count, id: upload.id }), "headline")]);
          refreshUploads();
        } else if (Array.isArray(body.problems)) {
          showProblems(body);
        } else {
          show("error", [element("p", strings.upload_failed + " " + (body.detail || answer.status))]);
        }
      })
      .catch(function (error) {
        show("error", [element("p", strings.upload_failed + " " + error)]);
      })
      .finally(function () {
        button.disabled = false;
      });
  });
})();
