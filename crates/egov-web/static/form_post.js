// OAuth response_mode=form_post: submit the hidden form at once. Without
// script the page shows its "Continue" button, which does the same.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-autosubmit]");
  if (form) form.submit();
});
