// Progressive enhancements only: every page works without this file.
(function () {
  "use strict";

  // Order list: "select all on page", highlighted rows and a live count on the bulk button.
  function syncSelection(form) {
    const boxes = form.querySelectorAll("input[data-row-check]");
    let checked = 0;
    boxes.forEach(function (box) {
      if (box.checked) checked += 1;
      const row = box.closest("tr");
      if (row) row.classList.toggle("selected", box.checked);
    });
    const all = form.querySelector("input[data-select-all]");
    if (all) {
      all.checked = boxes.length > 0 && checked === boxes.length;
      all.indeterminate = checked > 0 && checked < boxes.length;
    }
    form.querySelectorAll("[data-selected-count]").forEach(function (el) {
      el.textContent = checked ? checked + " selected" : "";
    });
    form.querySelectorAll("[data-needs-selection]").forEach(function (el) {
      el.disabled = checked === 0;
    });
  }

  document.addEventListener("change", function (event) {
    const target = event.target;
    const form = target.closest && target.closest("form[data-bulk]");
    if (!form) return;
    if (target.matches("input[data-select-all]")) {
      form.querySelectorAll("input[data-row-check]").forEach(function (box) { box.checked = target.checked; });
    }
    syncSelection(form);
  });

  // Copy buttons next to webhook URLs.
  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      const label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1200);
    });
  });

  function init() {
    document.querySelectorAll("form[data-bulk]").forEach(syncSelection);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
