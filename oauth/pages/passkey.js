// The passkey buttons of the sign-in page and the passkeys page. Served
// by the server itself as a file (the pages allow no inline script); it
// loads nothing else. Every request it sends carries the page's CSRF
// token in the X-CSRF-Token header.
"use strict";

(function () {
  function toBytes(b64url) {
    var b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toB64url(buf) {
    if (!buf) return null;
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrf() {
    var field = document.querySelector('input[name="csrf"]');
    return field ? field.value : "";
  }

  // call posts JSON and returns the answer's JSON; a refusal becomes an
  // Error whose message the server wrote for people.
  function call(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body || {})
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok) {
          var err = new Error(data.error || "Something went wrong. Please try again.");
          err.server = data;
          throw err;
        }
        return data;
      });
    });
  }

  function supported() {
    return window.isSecureContext && !!window.PublicKeyCredential &&
      !!navigator.credentials && typeof navigator.credentials.get === "function";
  }

  // explain turns a browser or server failure into plain words.
  function explain(err) {
    if (err && err.server) return err.message;
    if (err && err.name === "NotAllowedError") {
      return "The passkey was not used: the request was cancelled or took too long. You can try again.";
    }
    if (err && err.name === "InvalidStateError") {
      return "This device already holds a passkey for your account. Use another device, or keep the one you have.";
    }
    return "The passkey could not be used in this browser. Try again, or use another way to sign in.";
  }

  function say(el, text, isError) {
    if (!el) return;
    el.textContent = text;
    el.className = isError ? "error" : "";
  }

  function credentialJSON(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64url(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toB64url(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = toB64url(r.authenticatorData);
      out.response.signature = toB64url(r.signature);
      out.response.userHandle = toB64url(r.userHandle);
    }
    return out;
  }

  function signIn(button, status) {
    button.disabled = true;
    say(status, "Follow your device's prompt to use your passkey.");
    var next = document.querySelector('input[name="next"]');
    var trust = document.getElementById("passkey-trust");
    call("/oauth/passkey/login/options", { next: next ? next.value : "", trust: !!(trust && trust.checked) })
      .then(function (options) {
        var pk = options.publicKey;
        pk.challenge = toBytes(pk.challenge);
        (pk.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
        return navigator.credentials.get({ publicKey: pk });
      })
      .then(function (cred) { return call("/oauth/passkey/login", credentialJSON(cred)); })
      .then(function (done) {
        say(status, "Signed in. Continuing…");
        window.location.assign(done.next);
      })
      .catch(function (err) {
        button.disabled = false;
        say(status, explain(err), true);
        button.focus();
      });
  }

  function add(form, status) {
    var name = document.getElementById("passkey-name");
    var button = document.getElementById("passkey-create");
    name.removeAttribute("aria-invalid");
    button.disabled = true;
    say(status, "Follow your device's prompt to make the passkey.");
    call("/oauth/passkeys/options", { name: name.value })
      .then(function (options) {
        var pk = options.publicKey;
        pk.challenge = toBytes(pk.challenge);
        pk.user.id = toBytes(pk.user.id);
        (pk.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
        return navigator.credentials.create({ publicKey: pk });
      })
      .then(function (cred) { return call("/oauth/passkeys/register", credentialJSON(cred)); })
      .then(function (done) {
        say(status, "Passkey added.");
        window.location.assign(done.next);
      })
      .catch(function (err) {
        button.disabled = false;
        say(status, explain(err), true);
        if (err && err.server && err.server.field === "passkey-name") {
          name.setAttribute("aria-invalid", "true");
          name.focus();
        } else if (err && err.server && err.server.reauth) {
          var link = document.createElement("a");
          link.href = err.server.reauth;
          link.textContent = "Sign in again";
          status.appendChild(document.createTextNode(" "));
          status.appendChild(link);
        }
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("passkey-signin");
    var form = document.getElementById("passkey-add");
    var status = document.getElementById("passkey-status");
    var unavailable = document.getElementById("passkey-unavailable");
    if (!supported()) {
      if (unavailable) unavailable.hidden = false;
      if (form) form.hidden = true;
      return;
    }
    if (button) {
      button.hidden = false;
      button.addEventListener("click", function () { signIn(button, status); });
      if (document.getElementById("passkey-needed")) button.focus();
    }
    if (form) {
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        add(form, status);
      });
    }
  });
})();
