// yiqingtong member page: progressive enhancement only; the page works without this file.
(function () {
  "use strict";
  var forms = document.querySelectorAll("form.report");
  forms.forEach(function (form) {
    enhanceLocation(form);
    enhanceConditions(form);
  });

  function enhanceLocation(form) {
    var loc = form.querySelector(".loc");
    if (!loc) return;
    var key = loc.getAttribute("data-key");
    var gps = form.querySelector('input[name="' + key + '.mode"][value="gps"]');
    var button = loc.querySelector("button.locate");
    if (!gps || !button) return;
    var status = loc.querySelector(".loc-status");
    button.hidden = false;
    function field(name) { return form.querySelector('input[name="' + key + "." + name + '"]'); }
    function located(lat, lng, source) {
      field("lat").value = lat.toFixed(6);
      field("lng").value = lng.toFixed(6);
      field("source").value = source;
      gps.checked = true;
      status.textContent = status.getAttribute("data-located") + " (" + lat.toFixed(5) + ", " + lng.toFixed(5) + ")";
      // questions that depend on the location (e.g. a changed city) are asked at once
      form.dispatchEvent(new Event("change", { bubbles: true }));
    }
    function failed() {
      status.textContent = "";
      var details = loc.querySelector("details.checklist");
      if (details) details.open = true;
    }
    function locate() {
      status.textContent = status.getAttribute("data-locating");
      var cfg = window.YQT_JSSDK;
      if (cfg && window.wx) {  // inside WeCom: the JS-SDK, signed by the server
        window.wx.config(cfg.config);
        window.wx.ready(function () {
          var agent = Object.assign({}, cfg.agentConfig, {
            success: function () {
              window.wx.getLocation({ type: "wgs84",
                success: function (r) { located(r.latitude, r.longitude, "jssdk"); },
                fail: failed, cancel: failed });
            },
            fail: failed });
          (window.wx.agentConfig ? window.wx.agentConfig(agent) : agent.success());
        });
        window.wx.error(failed);
      } else if (navigator.geolocation) {
        navigator.geolocation.getCurrentPosition(
          function (p) { located(p.coords.latitude, p.coords.longitude, "browser"); },
          failed, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
      } else {
        failed();
      }
    }
    button.addEventListener("click", locate);
    var chosen = form.querySelector('input[name="' + key + '.mode"]:checked');
    if (!chosen) locate();
  }

  function enhanceConditions(form) {
    var url = form.getAttribute("data-applicable");
    if (!url || !form.querySelector("[data-conditional]") || !window.fetch) return;
    var timer = null;
    function refresh() {
      fetch(url, { method: "POST", body: new FormData(form), credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data || !data.keys) return;
          form.querySelectorAll("[data-conditional]").forEach(function (fs) {
            fs.hidden = data.keys.indexOf(fs.getAttribute("data-key")) < 0;
          });
        })
        .catch(function () {});
    }
    form.addEventListener("change", function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 120);
    });
  }
})();
