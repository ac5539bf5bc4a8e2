// Prefill the sign-up form's time zone with the browser's own. The form works without this
// script (the field then keeps the newsletter's time zone); a value the visitor typed is kept.
(function () {
  "use strict";
  var field = document.querySelector("input[data-detect-timezone]");
  if (!field || field.value !== field.defaultValue) {
    return;
  }
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone) {
      field.value = zone;
    }
  } catch (ignored) {
    // An old browser without Intl: keep the server's default.
  }
})();
