// Keyboard use of the queue page. Every control is a real link, button or field, so Tab and
// Enter already reach everything; these keys only make moving through a long queue quicker.
(function () {
  "use strict";
  function items() { return Array.from(document.querySelectorAll("article.item")); }
  function typing(el) { return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName)); }
  function current() { return document.activeElement && document.activeElement.closest("article.item"); }
  function move(step) {
    const all = items();
    if (!all.length) return;
    const at = all.indexOf(current());
    const next = all[Math.max(0, Math.min(all.length - 1, at < 0 ? 0 : at + step))];
    next.focus();
    next.scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) return;
    const item = current();
    if (event.key === "j") { move(1); event.preventDefault(); }
    else if (event.key === "k") { move(-1); event.preventDefault(); }
    else if (event.key === "/") {
      const filter = document.getElementById("filter-status");
      if (filter) { filter.focus(); event.preventDefault(); }
    } else if (event.key === "c" && item) {
      const claim = item.querySelector("button.claim");
      if (claim) { claim.click(); event.preventDefault(); }
    } else if (event.key === "Enter" && item && event.target === item) {
      const link = item.querySelector("h2 a");
      if (link) { link.click(); event.preventDefault(); }
    }
  });
  // A swapped item is a new element: give it the focus back so the keyboard stays in place.
  document.addEventListener("htmx:afterSwap", function (event) {
    const target = event.detail.target;
    if (target && target.id && target.id.indexOf("item-") === 0) {
      const fresh = document.getElementById(target.id);
      if (fresh) fresh.focus();
      else move(0);
    }
  });
})();
