// tenantsync status page: the only script, served from this origin (the CSP allows nothing else).
// Changing a filter's select applies it at once; without JavaScript the Filter button does.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const select of document.querySelectorAll("form.filters select")) {
    select.addEventListener("change", () => select.form.submit());
  }
});
