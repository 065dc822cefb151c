// Portfolio filters apply as soon as a select changes; the Apply button stays for keyboards and no-JS.
// Empty fields are left out of the query, so links stay short and shareable.
document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[method=get]")) {
    form.addEventListener("submit", () => {
      for (const field of form.elements) {
        if (field.name && field.value === "") field.disabled = true;
      }
    });
  }
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }
});
