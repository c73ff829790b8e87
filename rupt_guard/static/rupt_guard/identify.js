/*
 * rupt_guard: fill the hidden identification field of a login form before it submits.
 *
 * On submit it loads the identification SDK (Rupt's, or the local provider's stand-in),
 * awaits identify({client_id}) for at most data-timeout-ms, puts the opaque token in the
 * field and submits the form again. If the SDK fails or is slow the form still submits with
 * an empty field, and the server's missing-token rule decides. No inline script and no
 * dependencies: configuration comes from the field's data attributes (strict CSP works).
 */
(function () {
  "use strict";

  if (window.ruptGuardIdentify) {
    return; // the tag appears once per form; one listener serves them all
  }

  var sdkLoads = {};

  function loadSdk(url) {
    if (window.Rupt && typeof window.Rupt.identify === "function") {
      return Promise.resolve(window.Rupt);
    }
    if (!sdkLoads[url]) {
      sdkLoads[url] = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = url;
        script.async = true;
        script.onload = function () {
          if (window.Rupt && typeof window.Rupt.identify === "function") {
            resolve(window.Rupt);
          } else {
            reject(new Error("the SDK did not define Rupt.identify"));
          }
        };
        script.onerror = function () {
          delete sdkLoads[url]; // a later submit may try again
          reject(new Error("the SDK could not be loaded"));
        };
        document.head.appendChild(script);
      });
    }
    return sdkLoads[url];
  }

  function withTimeout(promise, ms) {
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () {
        reject(new Error("identify() timed out"));
      }, ms);
      promise.then(
        function (value) { clearTimeout(timer); resolve(value); },
        function (error) { clearTimeout(timer); reject(error); }
      );
    });
  }

  function identify(field) {
    var timeout = parseInt(field.getAttribute("data-timeout-ms"), 10) || 3000;
    var clientId = field.getAttribute("data-client-id") || "";
    var work = loadSdk(field.getAttribute("data-sdk-url")).then(function (sdk) {
      return sdk.identify({ client_id: clientId });
    });
    return withTimeout(work, timeout).then(
      function (result) {
        return result && typeof result.identification === "string" ? result.identification : "";
      },
      function () { return ""; }
    );
  }

  function tokenField(form) {
    var elements = form.elements;
    for (var i = 0; i < elements.length; i++) {
      if (elements[i].hasAttribute && elements[i].hasAttribute("data-rupt-guard-field")) {
        return elements[i];
      }
    }
    return null;
  }

  function resubmit(form, submitter) {
    if (typeof form.requestSubmit === "function") {
      // Keeps the clicked button's name/value and runs the form's own validation again.
      form.requestSubmit(submitter && submitter.form === form ? submitter : undefined);
      return;
    }
    if (submitter && submitter.name) {
      var carrier = document.createElement("input");
      carrier.type = "hidden";
      carrier.name = submitter.name;
      carrier.value = submitter.value;
      form.appendChild(carrier);
    }
    form.submit();
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var field = form && form.elements ? tokenField(form) : null;
    if (!field) {
      return; // not a login form of ours
    }
    if (form.getAttribute("data-rupt-guard-state") === "ready") {
      // Our second pass: let the browser submit. The token is single-use, so any later
      // submit (a retry on a page that stayed, a click while this one is in flight)
      // must identify again rather than send a spent token.
      form.removeAttribute("data-rupt-guard-state");
      return;
    }
    event.preventDefault();
    if (form.getAttribute("data-rupt-guard-state") === "busy") {
      return; // a second click or Enter while identify() runs: one submission only
    }
    form.setAttribute("data-rupt-guard-state", "busy");
    var submitter = event.submitter || null;
    identify(field).then(function (token) {
      field.value = token;
      form.setAttribute("data-rupt-guard-state", "ready");
      resubmit(form, submitter);
    });
  }, true);

  // Back/forward cache: a restored page must identify again (tokens are single-use).
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) {
      return;
    }
    var forms = document.querySelectorAll("form[data-rupt-guard-state]");
    for (var i = 0; i < forms.length; i++) {
      forms[i].removeAttribute("data-rupt-guard-state");
      var field = tokenField(forms[i]);
      if (field) {
        field.value = "";
      }
    }
  });

  window.ruptGuardIdentify = identify;
})();
