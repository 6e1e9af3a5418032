// The periodic task form (django-celery-beat): shows the chosen crontab in words
// under the crontab field, as the package's own inline script does.
(function () {
  "use strict";
  const data = document.getElementById("readable-crontabs");
  const select = document.getElementById("id_crontab");
  const help = document.querySelector(".field-crontab .help");
  const translation = document.querySelector(".field-crontab_translation");
  // Set through the CSSOM, which the policy allows (a style attribute it would not).
  if (translation) translation.style.display = "none";
  if (!data || !select || !help) return;
  const readable = JSON.parse(data.textContent);
  const original = Array.from(help.childNodes, (node) => node.cloneNode(true));
  select.addEventListener("change", () => {
    const words = readable[select.value];
    help.replaceChildren(...original.map((node) => node.cloneNode(true)));
    if (words) help.append(document.createElement("br"), `Translation: ${words}`);
  });
})();
