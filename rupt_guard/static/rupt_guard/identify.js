/*
 * rupt_guard: fill the hidden identification field of a login form before it submits.
 *
 * As soon as the page has loaded it starts loading the identification SDK (Rupt's, or the
 * local provider's stand-in) for every field of ours, so that on submit data-timeout-ms is
 * spent on identify() alone. On submit it awaits identify({client_id, domain?, tolerance?})
 * for at most data-timeout-ms, puts the opaque token in the field and submits the form again.
 *
 * If no token can be had the form still submits with an empty field (the server's
 * missing-token rule decides) and a short reason in the second hidden field
 * (data-rupt-guard-error, named after the token field + "_error"), one of:
 *   sdk_unavailable  the SDK script did not load (ad blocker, CSP, network, integrity)
 *   no_sdk           the script loaded but defines no Rupt.identify
 *   identify_error   identify() answered without an identification (Rupt's SDK resolves with
 *                    the error body of a 401/403/428: a wrong client id, a lapsed plan)
 *   identify_failed  identify() failed (network failure, a non-JSON answer)
 *   timeout          no answer within data-timeout-ms
 * The reason is diagnostic only: it never changes the server's decision.
 *
 * No inline script and no dependencies: configuration comes from the field's data
 * attributes (strict CSP works).
 */
(function () {
  "use strict";

  if (window.ruptGuardIdentify) {
    return; // the tag appears once per form; one listener serves them all
  }

  var sdkLoads = {};

  function failure(reason, message) {
    var error = new Error(message);
    error.reason = reason;
    return error;
  }

  function loaded() {
    return window.Rupt && typeof window.Rupt.identify === "function" ? window.Rupt : null;
  }

  // The SDK script for `url`, loaded once per page. A script that failed to load is
  // forgotten, so a later submit tries again; one that loaded without Rupt.identify is not.
  function loadSdk(url, integrity) {
    if (loaded()) {
      return Promise.resolve(loaded());
    }
    if (!url) {
      return Promise.reject(failure("no_sdk", "no SDK address"));
    }
    if (!sdkLoads[url]) {
      sdkLoads[url] = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        if (integrity) {
          // Subresource Integrity needs a CORS fetch; the SDK is fetched without credentials.
          script.integrity = integrity;
          script.crossOrigin = "anonymous";
        }
        script.src = url;
        script.async = true;
        script.onload = function () {
          if (loaded()) {
            resolve(loaded());
          } else {
            reject(failure("no_sdk", "the SDK did not define Rupt.identify"));
          }
        };
        script.onerror = function () {
          delete sdkLoads[url]; // a later submit may try again
          reject(failure("sdk_unavailable", "the SDK could not be loaded"));
        };
        document.head.appendChild(script);
      });
    }
    return sdkLoads[url];
  }

  function fieldSdk(field) {
    return loadSdk(
      field.getAttribute("data-sdk-url"),
      field.getAttribute("data-sdk-integrity") || ""
    );
  }

  // Start loading the SDK of every field on the page; a submit awaits the same load.
  function preload() {
    var fields = document.querySelectorAll("[data-rupt-guard-field]");
    for (var i = 0; i < fields.length; i++) {
      fieldSdk(fields[i]).catch(function () {
        // Reported when a form submits (its own load attempt says why).
      });
    }
  }

  function withTimeout(promise, ms) {
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () {
        reject(failure("timeout", "identify() timed out"));
      }, ms);
      promise.then(
        function (value) { clearTimeout(timer); resolve(value); },
        function (error) { clearTimeout(timer); reject(error); }
      );
    });
  }

  function identifyOptions(field) {
    var options = { client_id: field.getAttribute("data-client-id") || "" };
    var domain = field.getAttribute("data-domain");
    var tolerance = field.getAttribute("data-tolerance");
    if (domain) {
      options.domain = domain;
    }
    if (tolerance) {
      options.tolerance = tolerance;
    }
    return options;
  }

  // Resolves (never rejects) with {token, error}: the token, or "" and the reason why not.
  function identify(field) {
    var timeout = parseInt(field.getAttribute("data-timeout-ms"), 10) || 3000;
    var options = identifyOptions(field);
    var work = fieldSdk(field).then(function (sdk) {
      var answer;
      try {
        answer = sdk.identify(options);
      } catch (error) {
        throw failure("identify_failed", String(error));
      }
      return Promise.resolve(answer).then(
        function (result) {
          var token = result && result.identification;
          if (typeof token === "string" && token) {
            return { token: token, error: "" };
          }
          // Rupt's SDK resolves with the error body of an HTTP error (no status check).
          return { token: "", error: "identify_error" };
        },
        function () {
          return { token: "", error: "identify_failed" };
        }
      );
    });
    return withTimeout(work, timeout).then(null, function (error) {
      return { token: "", error: (error && error.reason) || "identify_failed" };
    });
  }

  function formFields(form) {
    var found = { token: null, error: null };
    var elements = form.elements;
    for (var i = 0; i < elements.length; i++) {
      var element = elements[i];
      if (!element.hasAttribute) {
        continue;
      }
      if (!found.token && element.hasAttribute("data-rupt-guard-field")) {
        found.token = element;
      }
    }
    if (found.token) {
      var errorName = found.token.name + "_error";
      for (var j = 0; j < elements.length; j++) {
        if (
          elements[j].hasAttribute &&
          elements[j].hasAttribute("data-rupt-guard-error") &&
          elements[j].name === errorName
        ) {
          found.error = elements[j];
          break;
        }
      }
    }
    return found;
  }

  function fill(fields, token, error) {
    fields.token.value = token;
    if (fields.error) {
      fields.error.value = error;
    }
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
    var fields = form && form.elements ? formFields(form) : null;
    if (!fields || !fields.token) {
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
    identify(fields.token).then(function (outcome) {
      // In a task of its own: an outcome known at once (an SDK that already failed to load)
      // arrives in a microtask, while this submit event is still being dispatched, and the
      // browser ignores requestSubmit() on a form that is firing its submit event. The form
      // stays "busy" until then, so a click in between is still ignored.
      setTimeout(function () {
        fill(fields, outcome.token, outcome.error);
        form.setAttribute("data-rupt-guard-state", "ready");
        resubmit(form, submitter);
      }, 0);
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
    }
    var fields = document.querySelectorAll("[data-rupt-guard-field], [data-rupt-guard-error]");
    for (var j = 0; j < fields.length; j++) {
      fields[j].value = "";
    }
  });

  // The tag's script is deferred, so the fields exist by now; a script run earlier than
  // that (not deferred, or placed before its field) also preloads once the page is parsed.
  preload();
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", preload);
  }

  window.ruptGuardIdentify = identify;
})();
