"""Pages for the real-browser tests of ``identify.js`` (``tests/test_identify_js.py``).

A sign-in page whose forms carry ``{% rupt_guard_identify %}``, a page whose own script
signs in with ``fetch()``, an endpoint that records every POST it receives, and fake
identification SDKs served by the same live server. Every page is sent with a strict
Content-Security-Policy (no inline script) that allows only this origin and the origin of
the configured SDK.

The fake SDKs are script-tag doubles of Rupt's real one (``shared/RUPT_API.md``): they set
``window.Rupt``, and ``identify()`` resolves with the answer's JSON as it is, so a wrong
client id resolves with an error body rather than rejecting, rejects only as a network
failure would, and never times out on its own.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_POST

from rupt_guard.providers import get_provider

# What the live server received; the live server runs in a thread of the test process, so
# the tests read these lists directly (``reset()`` before each test).
SUBMISSIONS: list[dict] = []
SDK_REQUESTS: list[str] = []
SDK_REQUESTED_AT: list[float] = []  # time.monotonic() of each SDK request, as SDK_REQUESTS
_lock = threading.Lock()

# The client id for which the fake SDK answers as Rupt's API does to an unknown one.
WRONG_CLIENT_ID = "wrong-client"


def reset() -> None:
    with _lock:
        SUBMISSIONS.clear()
        SDK_REQUESTS.clear()
        SDK_REQUESTED_AT.clear()


def _csp(request) -> str:
    sources = ["'self'"]
    origin = urlsplit(get_provider().sdk_url())
    # ?sdk_origin=0: the site forgot to allow its SDK's origin (the SDK must be blocked).
    sdk_origin = f"{origin.scheme}://{origin.netloc}"
    if sdk_origin != f"{request.scheme}://{request.get_host()}" and (
        request.GET.get("sdk_origin") != "0"
    ):
        sources.append(sdk_origin)
    scripts = " ".join(sources)
    return (
        f"default-src 'self'; script-src {scripts}; style-src 'self'; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
    )


def _with_csp(request, response):
    response["Content-Security-Policy"] = _csp(request)
    return response


def sign_in_page(request):
    return _with_csp(request, render(request, "browser/sign_in.html"))


def ajax_page(request):
    return _with_csp(request, render(request, "browser/ajax_form.html"))


@require_POST
def submitted(request):
    entry = {
        "at": time.monotonic(),
        "path": request.get_full_path(),
        "post": {key: request.POST.getlist(key) for key in request.POST},
    }
    with _lock:
        SUBMISSIONS.append(entry)
    # ?delay=<seconds>: a slow login view, so a test can act while the request is in flight.
    delay = float(request.GET.get("delay", "0"))
    if delay:
        time.sleep(min(delay, 5.0))
    return _with_csp(request, JsonResponse({"received": entry["post"]}))


# The fake SDKs. Each load and each call to identify() is logged in sessionStorage (it
# survives the navigation to the result page) and the token is derived from the client_id it
# was given, so a test sees when the SDK ran, how often identify() ran and with what.
_SDK_PRELUDE = """(function () {
  "use strict";
  var loads = Number(sessionStorage.getItem("sdkLoads") || "0") + 1;
  sessionStorage.setItem("sdkLoads", String(loads));
  function logCall(opts) {
    var calls = JSON.parse(sessionStorage.getItem("identifyCalls") || "[]");
    calls.push(opts);
    sessionStorage.setItem("identifyCalls", JSON.stringify(calls));
    return calls.length;
  }
"""

FAKE_SDKS = {
    # Answers after DELAY_MS (?delay_ms=, 50 by default) with a token naming the client id
    # and the call's number. Like Rupt's SDK, which returns the API's JSON without looking
    # at the status, it RESOLVES with an error body when the API would refuse: for the
    # client id "wrong-client" (a 401), and for the first ERRORS calls (?errors=, 0 by
    # default: an API that answered an error, then recovered).
    "fake-sdk.js": _SDK_PRELUDE
    + """  window.Rupt = {
    identify: function (opts) {
      var n = logCall(opts);
      return new Promise(function (resolve) {
        setTimeout(function () {
          if (opts.client_id === "WRONG_CLIENT_ID") {
            resolve({ error: "Unauthorized" });
          } else if (n <= ERRORS) {
            resolve({ error: "Internal Server Error" });
          } else {
            resolve({ identification: "tok." + opts.client_id + "." + n });
          }
        }, DELAY_MS);
      });
    }
  };
})();
""",
    # identify() never settles (Rupt's SDK has no timeout of its own): the page must give
    # up after data-timeout-ms.
    "never-sdk.js": _SDK_PRELUDE
    + """  window.Rupt = {
    identify: function (opts) {
      logCall(opts);
      return new Promise(function () {});
    }
  };
})();
""",
    # identify() rejects, as Rupt's SDK does when fetch() fails (network, CORS) or the
    # answer is not JSON.
    "reject-sdk.js": _SDK_PRELUDE
    + """  window.Rupt = {
    identify: function (opts) {
      logCall(opts);
      return new Promise(function (resolve, reject) {
        setTimeout(function () {
          reject(new TypeError("Failed to fetch"));
        }, DELAY_MS);
      });
    }
  };
})();
""",
    # Loads fine but defines no Rupt.identify (e.g. the package's ES-module build).
    "empty-sdk.js": _SDK_PRELUDE + "})();\n",
}


def sdk_body(name: str, delay_ms: int = 50, errors: int = 0) -> bytes:
    """The bytes served for ``/sdk/<name>`` (a test hashes them for Subresource Integrity)."""
    return (
        FAKE_SDKS[name]
        .replace("WRONG_CLIENT_ID", WRONG_CLIENT_ID)
        .replace("DELAY_MS", str(delay_ms))
        .replace("ERRORS", str(errors))
        .encode()
    )


def fake_sdk(request, name):
    with _lock:
        SDK_REQUESTS.append(name)
        SDK_REQUESTED_AT.append(time.monotonic())
    # ?serve_delay_ms=: a slow CDN (the script arrives late).
    serve_delay = int(request.GET.get("serve_delay_ms", "0"))
    if serve_delay:
        time.sleep(min(serve_delay, 5000) / 1000)
    if name not in FAKE_SDKS:
        return HttpResponse("no such SDK", status=404, content_type="text/plain")
    body = sdk_body(
        name,
        delay_ms=int(request.GET.get("delay_ms", "50")),
        errors=int(request.GET.get("errors", "0")),
    )
    response = HttpResponse(body, content_type="text/javascript")
    # As a CDN does: a script loaded with crossorigin="anonymous" (for its integrity) from
    # another origin needs it.
    response["Access-Control-Allow-Origin"] = "*"
    return response


# The site's own script on the AJAX page: it signs in with fetch() instead of navigating,
# and leaves alone a submit event that another listener already cancelled.
SITE_AJAX_JS = """(function () {
  "use strict";
  var form = document.getElementById("ajax");
  form.addEventListener("submit", function (event) {
    if (event.defaultPrevented) {
      return;
    }
    event.preventDefault();
    // getAttribute: form.action would be the button named "action".
    var body = new FormData(form, event.submitter);
    fetch(form.getAttribute("action"), { method: "POST", body: body })
      .then(function (response) { return response.json(); })
      .then(function (body) {
        var out = document.getElementById("result");
        out.textContent = JSON.stringify(body.received);
        out.setAttribute("data-count", String(Number(out.getAttribute("data-count")) + 1));
      });
  });
})();
"""


def site_ajax_js(request):
    return HttpResponse(SITE_AJAX_JS, content_type="text/javascript")


urlpatterns = [
    path("sign-in/", sign_in_page, name="sign-in"),
    path("ajax/", ajax_page, name="ajax"),
    path("submitted/", submitted, name="submitted"),
    path("sdk/<str:name>", fake_sdk, name="fake-sdk"),
    path("site-ajax.js", site_ajax_js, name="site-ajax-js"),
]
