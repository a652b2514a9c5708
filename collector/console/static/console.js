// jishi console: the fleet table refreshes itself; the timeline's stretches open their evidence;
// filter menus apply on change. No framework, no inline script (Content-Security-Policy).
"use strict";

function refreshFleet(body) {
  const every = Number(body.dataset.refreshS || "0") * 1000;
  if (!every) return;
  const stamp = document.getElementById("fleet-updated");
  const tick = async () => {
    try {
      const response = await fetch(body.dataset.source + window.location.search, {
        credentials: "same-origin", headers: { Accept: "text/html" }, cache: "no-store",
      });
      if (response.status === 401) {
        window.location.assign("/signin?next=" + encodeURIComponent(window.location.pathname + window.location.search));
        return;
      }
      if (response.ok) {
        body.innerHTML = await response.text();  // escaped by the server's templates
        if (stamp) stamp.textContent = response.headers.get("X-Jishi-Updated") || "";
        body.dataset.refreshed = String(Number(body.dataset.refreshed || "0") + 1);
      }
    } catch (error) {
      // The collector is restarting or the network is down: try again at the next tick.
    }
    window.setTimeout(tick, every);
  };
  window.setTimeout(tick, every);
}

function pickStretches() {
  document.querySelectorAll("svg.timeline rect.st").forEach((rect) => {
    rect.addEventListener("click", () => {
      document.querySelectorAll(".picked").forEach((el) => el.classList.remove("picked"));
      const row = document.getElementById("iv-" + rect.dataset.i);
      rect.classList.add("picked");
      if (!row) return;
      row.classList.add("picked");
      const details = row.querySelector("details");
      if (details) details.open = true;
      row.scrollIntoView({ block: "nearest" });
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const body = document.getElementById("fleet-rows");
  if (body) refreshFleet(body);
  pickStretches();
  document.querySelectorAll("form[data-autosubmit] select").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });
});
