/*
 * rupt_guard's local provider: the same identify({client_id}) call as Rupt's SDK.
 *
 * The browser keeps a random device secret (localStorage, else a first-party cookie) and
 * trades it at the site's endpoint for a short-lived, single-use identification token.
 * The browser learns nothing else: the device id is derived on the server.
 */
(function () {
  "use strict";

  var KEY = "rupt_guard_local_device";
  var script = document.currentScript;
  var endpoint = new URL("identify/", script ? script.src : window.location.href).href;

  function newSecret() {
    var bytes = new Uint8Array(32);
    window.crypto.getRandomValues(bytes);
    var text = "";
    for (var i = 0; i < bytes.length; i++) {
      text += String.fromCharCode(bytes[i]);
    }
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function readCookie() {
    var match = document.cookie.match(new RegExp("(?:^|; )" + KEY + "=([A-Za-z0-9_-]+)"));
    return match ? match[1] : null;
  }

  function writeCookie(secret) {
    var secure = window.location.protocol === "https:" ? "; Secure" : "";
    document.cookie = KEY + "=" + secret + "; Max-Age=34560000; Path=/; SameSite=Lax" + secure;
  }

  function deviceSecret() {
    var secret = null;
    try {
      secret = window.localStorage.getItem(KEY);
      if (!secret) {
        secret = readCookie() || newSecret();
        window.localStorage.setItem(KEY, secret);
      }
      return secret;
    } catch (storageUnavailable) {
      secret = readCookie() || newSecret();
      writeCookie(secret);
      return secret;
    }
  }

  window.Rupt = {
    identify: function () {
      return fetch(endpoint, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ secret: deviceSecret() })
      }).then(function (response) {
        if (!response.ok) {
          throw new Error("local identification failed: HTTP " + response.status);
        }
        return response.json();
      }).then(function (payload) {
        return { identification: payload.identification };
      });
    }
  };
})();
