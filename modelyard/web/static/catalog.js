// modelyard catalog: progressive enhancement. Every page works without this script (public models).
// With it: an API key entered on the page is kept in this tab's sessionStorage and sent as an
// Authorization header (never in a URL); navigation inside the catalog fetches the page and swaps <main>,
// keeping the URL (history.pushState) so links, reloads and the back button behave as before.
"use strict";
(() => {
  const KEY = "modelyard.catalog.key";
  const root = document.documentElement;
  root.classList.add("js");
  const $ = (id) => document.getElementById(id);
  const narrow = window.matchMedia("(max-width: 760px)");
  let filtersOpen = !narrow.matches;

  const storedKey = () => {
    try { return sessionStorage.getItem(KEY) || ""; } catch (e) { return ""; }
  };
  const setKey = (value) => {
    try { value ? sessionStorage.setItem(KEY, value) : sessionStorage.removeItem(KEY); } catch (e) { /* storage off */ }
  };

  function announce(text) { const live = $("live"); if (live) live.textContent = text; }

  function syncKeyArea() {
    const has = Boolean(storedKey());
    $("key-form").hidden = has;
    $("key-toggle").hidden = has;
    $("key-forget").hidden = !has;
  }

  function keyError(text) {
    const error = $("key-error");
    error.textContent = text;
    error.hidden = !text;
    if (text) openKeyForm(true);
  }

  function openKeyForm(open) {
    $("key-area").classList.toggle("open", open);
    $("key-toggle").setAttribute("aria-expanded", String(open));
  }

  function enhance() {
    const filters = $("filters");
    if (filters) {
      filters.open = filtersOpen;
      filters.addEventListener("toggle", () => { filtersOpen = filters.open; });
    }
    for (const button of document.querySelectorAll("button.copy[data-copy]")) {
      button.hidden = false;
      button.addEventListener("click", async () => {
        const code = $(button.dataset.copy);
        try {
          await navigator.clipboard.writeText(code.textContent);
          announce("Copied to the clipboard");
        } catch (e) {
          const range = document.createRange();
          range.selectNodeContents(code);
          const selection = window.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
          announce("Selected: press Ctrl+C to copy");
        }
      });
    }
  }

  function isCatalogUrl(url) {
    return url.origin === location.origin && (url.pathname === "/catalog" || url.pathname.startsWith("/catalog/accounts/"));
  }

  let pending = null;
  async function navigate(href, { push = true, focusMain = false } = {}) {
    const url = new URL(href, location.href);
    if (pending) pending.abort();
    const controller = new AbortController();
    pending = controller;
    const headers = { Accept: "text/html" };
    const key = storedKey();
    if (key) headers.Authorization = `Bearer ${key}`;
    let response, text;
    try {
      response = await fetch(url, { headers, signal: controller.signal, cache: "no-store" });
      text = await response.text();
    } catch (e) {
      if (e.name === "AbortError") return;
      location.assign(url);  // fall back to a plain page load
      return;
    }
    if (pending !== controller) return;
    pending = null;
    if (response.status === 401 && key) {
      // The key was refused: forget it, show the key box again with the reason, and the public view.
      setKey("");
      syncKeyArea();
      keyError("That API key was not accepted (revoked, expired or mistyped): enter another.");
      navigate(url, { push, focusMain });
      $("api-key").focus();
      return;
    }
    const doc = new DOMParser().parseFromString(text, "text/html");
    const next = doc.querySelector("main");
    if (!next) { location.assign(url); return; }
    if (push && url.href !== location.href) history.pushState(null, "", url);
    swap(doc, next, focusMain);
  }

  function swap(doc, next, focusMain) {
    const main = document.querySelector("main");
    const focusedId = document.activeElement && document.activeElement.id;
    const oldCount = $("result-count");
    main.replaceWith(next);
    const newCount = $("result-count");
    if (oldCount && newCount) {  // keep the live region's node, so screen readers announce the change
      oldCount.textContent = newCount.textContent;
      newCount.replaceWith(oldCount);
    } else if (newCount) {
      announce(newCount.textContent.trim());
    }
    document.title = doc.title;
    const status = doc.getElementById("key-status");
    if (status) $("key-status").replaceWith(document.importNode(status, true));
    $("key-area").dataset.account = doc.getElementById("key-area").dataset.account;
    enhance();
    const again = focusedId && document.getElementById(focusedId);
    if (again && !focusMain) again.focus({ preventScroll: true });
    else { next.focus({ preventScroll: true }); window.scrollTo(0, 0); }
  }

  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[href]");
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey ||
        event.shiftKey || event.altKey || link.target || link.hasAttribute("download")) return;
    const url = new URL(link.href, location.href);
    if (!isCatalogUrl(url)) return;
    event.preventDefault();
    navigate(url, { focusMain: link.closest(".cards, .breadcrumb, .pager, .site-header, .empty") !== null });
  });

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.id === "key-form") {
      event.preventDefault();
      const input = $("api-key");
      const value = input.value.trim();
      input.value = "";
      if (!value) return;
      keyError("");
      openKeyForm(false);
      setKey(value);
      syncKeyArea();
      navigate(location.href, { push: false });
      return;
    }
    if (form.method.toLowerCase() !== "get") return;
    const url = new URL(form.action, location.href);
    if (!isCatalogUrl(url)) return;
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [name, value] of new FormData(form, event.submitter)) {
      if (typeof value !== "string") continue;
      if (value === "" || (name === "sort" && value === "name")) continue;
      params.append(name, value);
    }
    url.search = params.toString();
    navigate(url);
  });

  document.addEventListener("change", (event) => {
    const target = event.target;
    if (target.closest("#catalog-form") && (target.matches("input[type=checkbox]") || target.id === "sort")) {
      target.form.requestSubmit();
    }
  });

  window.addEventListener("popstate", () => navigate(location.href, { push: false }));

  document.addEventListener("DOMContentLoaded", () => {
    $("key-toggle").addEventListener("click", () => {
      const open = !$("key-area").classList.contains("open");
      openKeyForm(open);
      if (open) $("api-key").focus();
    });
    $("key-forget").addEventListener("click", () => {
      setKey("");
      syncKeyArea();
      navigate(location.href, { push: false });
    });
    syncKeyArea();
    enhance();
    if (storedKey()) navigate(location.href, { push: false });
  });
})();
