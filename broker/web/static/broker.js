// Progressive enhancement for the broker's pages: each page works without it.
(function () {
  "use strict";

  // The role filter: every word typed must appear (in any order) in the role's name, ARN,
  // account id, account alias, account name (Organizations) or description.
  var box = document.getElementById("role-filter");
  if (box) {
    document.getElementById("role-filter-box").hidden = false;
    var empty = document.getElementById("role-filter-empty");
    var applyFilter = function () {
      var words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      document.querySelectorAll("#role-list .role").forEach(function (role) {
        var text = role.getAttribute("data-filter") || "";
        var match = words.every(function (word) { return text.indexOf(word) !== -1; });
        role.hidden = !match;
        if (match) { shown += 1; }
      });
      document.querySelectorAll("#role-list fieldset").forEach(function (account) {
        account.hidden = !account.querySelector(".role:not([hidden])");
      });
      empty.hidden = shown !== 0;
      empty.textContent = shown === 0 ? "No role matches \u201c" + box.value.trim() + "\u201d." : "";
    };
    box.addEventListener("input", applyFilter);
    applyFilter();
  }

  // Sections marked data-tabs become tabs: one visible at a time, a tab button for each.
  document.querySelectorAll("[data-tabs]").forEach(function (container) {
    var panels = Array.prototype.slice.call(container.querySelectorAll("[data-tab-panel]"));
    var list = document.createElement("div");
    list.className = "tablist";
    list.setAttribute("role", "tablist");
    list.setAttribute("aria-label", container.getAttribute("data-tabs"));
    var buttons = panels.map(function (panel) {
      var heading = panel.querySelector("h3");
      var button = document.createElement("button");
      button.type = "button";
      button.id = panel.id + "-tab";
      button.className = "tab";
      button.setAttribute("role", "tab");
      button.setAttribute("aria-controls", panel.id);
      button.textContent = heading.textContent;
      panel.setAttribute("role", "tabpanel");
      panel.setAttribute("aria-labelledby", button.id);
      heading.hidden = true;
      list.appendChild(button);
      return button;
    });
    var select = function (chosen, focus) {
      buttons.forEach(function (button, index) {
        var on = index === chosen;
        button.setAttribute("aria-selected", on ? "true" : "false");
        panels[index].hidden = !on;
      });
      if (focus) { buttons[chosen].focus(); }
    };
    buttons.forEach(function (button, index) {
      button.addEventListener("click", function () { select(index, false); });
      button.addEventListener("keydown", function (event) {
        var count = buttons.length;
        var next = {ArrowRight: (index + 1) % count, ArrowLeft: (index + count - 1) % count, Home: 0, End: count - 1}[event.key];
        if (next !== undefined) { event.preventDefault(); select(next, true); }
      });
    });
    container.insertBefore(list, panels[0]);
    select(0, false);
  });

  // Copy buttons (hidden until this script can make them work).
  var status = document.getElementById("copy-status");
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      var done = function () { status.textContent = "Copied " + button.getAttribute("data-what") + "."; };
      var select = function () {
        var range = document.createRange();
        range.selectNodeContents(source);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        status.textContent = document.execCommand("copy") ? "Copied " + button.getAttribute("data-what") + "." : "Selected: press Ctrl+C (\u2318C) to copy.";
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(source.textContent).then(done, select);
      } else {
        select();
      }
    });
  });

  // The expiry in the person's own time zone, and a countdown.
  var expiration = document.getElementById("expiration");
  if (expiration) {
    var ends = new Date(expiration.getAttribute("datetime"));
    var local = document.getElementById("expires-local");
    var left = document.getElementById("expires-in");
    local.textContent = ends.toLocaleString([], {dateStyle: "medium", timeStyle: "short"}) + " your time";
    var tick = function () {
      var seconds = (ends.getTime() - Date.now()) / 1000;
      var minutes = Math.floor(seconds / 60);
      var text;
      if (seconds <= 0) { text = "expired"; }
      else if (minutes < 1) { text = "in less than a minute"; }
      else if (minutes < 120) { text = "in " + minutes + (minutes === 1 ? " minute" : " minutes"); }
      else { text = "in " + Math.floor(minutes / 60) + " hours " + (minutes % 60) + " minutes"; }
      left.textContent = text;
      left.className = seconds <= 0 ? "expired" : "";
    };
    tick();
    window.setInterval(tick, 15000);
  }
})();
