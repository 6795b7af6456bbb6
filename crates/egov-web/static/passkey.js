// Passkey ceremonies (WebAuthn). The only script the sign-in pages need:
// without it, or in a browser without WebAuthn, the passkey buttons stay
// hidden and passwords and codes work as before.
//
// A button with `data-passkey-options` (a URL answering POST with
// `{ceremony, options}`) runs the ceremony; then either the form named by
// `data-passkey-form` is submitted with `ceremony` and `credential` filled
// in (sign-in), or the credential is POSTed as JSON to
// `data-passkey-finish` and the page reloads (registration).
"use strict";

const b64 = {
  decode(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0)).buffer;
  },
  encode(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (const byte of bytes) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  },
};

function creationOptions(json) {
  const options = structuredClone(json.publicKey);
  options.challenge = b64.decode(options.challenge);
  options.user.id = b64.decode(options.user.id);
  options.excludeCredentials = (options.excludeCredentials || []).map((c) => ({ ...c, id: b64.decode(c.id) }));
  return { publicKey: options };
}

function requestOptions(json) {
  const options = structuredClone(json.publicKey);
  options.challenge = b64.decode(options.challenge);
  options.allowCredentials = (options.allowCredentials || []).map((c) => ({ ...c, id: b64.decode(c.id) }));
  return { publicKey: options };
}

function registration(credential) {
  return {
    id: credential.id,
    rawId: b64.encode(credential.rawId),
    type: credential.type,
    extensions: credential.getClientExtensionResults(),
    response: {
      attestationObject: b64.encode(credential.response.attestationObject),
      clientDataJSON: b64.encode(credential.response.clientDataJSON),
      transports: credential.response.getTransports ? credential.response.getTransports() : [],
    },
  };
}

function assertion(credential) {
  const response = credential.response;
  return {
    id: credential.id,
    rawId: b64.encode(credential.rawId),
    type: credential.type,
    extensions: credential.getClientExtensionResults(),
    response: {
      authenticatorData: b64.encode(response.authenticatorData),
      clientDataJSON: b64.encode(response.clientDataJSON),
      signature: b64.encode(response.signature),
      userHandle: response.userHandle ? b64.encode(response.userHandle) : null,
    },
  };
}

async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify(body ?? {}),
  });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

function showError(button) {
  const target = document.getElementById(button.dataset.passkeyError || "");
  if (target) target.hidden = false;
}

async function run(button) {
  button.disabled = true;
  try {
    const { ceremony, options } = await postJson(button.dataset.passkeyOptions);
    if (button.dataset.passkeyFinish) {
      const credential = await navigator.credentials.create(creationOptions(options));
      const name = document.getElementById(button.dataset.passkeyName || "")?.value ?? "";
      await postJson(button.dataset.passkeyFinish, { ceremony, name, credential: registration(credential) });
      window.location.assign(button.dataset.passkeyDone || window.location.pathname);
    } else {
      const credential = await navigator.credentials.get(requestOptions(options));
      const form = document.getElementById(button.dataset.passkeyForm);
      form.elements.ceremony.value = ceremony;
      form.elements.credential.value = JSON.stringify(assertion(credential));
      form.submit();
    }
  } catch (error) {
    console.warn("passkey", error);
    showError(button);
    button.disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  if (!window.PublicKeyCredential) return;
  for (const button of document.querySelectorAll("button[data-passkey-options]")) {
    button.hidden = false;
    for (const note of document.querySelectorAll("[data-passkey-noscript]")) note.hidden = true;
    button.addEventListener("click", () => run(button));
  }
});
