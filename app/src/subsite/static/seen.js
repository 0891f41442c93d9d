// Marks the notices added since this browser last saw the board's first page
// with a "new" badge. The server sends every visitor the same page (so nginx
// can keep it in its cache); what this browser has seen is kept here, in
// localStorage, per board: several boards may share one host.
//
// As the server did before: on a first visit nothing is new; the first page
// (data-newest: the newest post then) records what was seen, after marking;
// later pages are marked but record nothing.
(function () {
  "use strict";
  var list = document.querySelector(".notices[data-board]");
  if (!list) {
    return;
  }
  var key = "subsite.seen " + list.dataset.board;
  var seen = null;
  try {
    seen = window.localStorage.getItem(key);
  } catch (error) {
    return; // storage refused (privacy settings): nothing is marked, as on a first visit
  }
  if (seen !== null && /^[0-9]+$/.test(seen)) {
    list.querySelectorAll("article[data-id]").forEach(function (article) {
      var heading = article.querySelector("h2");
      if (heading && Number(article.dataset.id) > Number(seen)) {
        var badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = "new";
        heading.append(" ", badge);
      }
    });
  }
  var newest = list.dataset.newest;
  if (newest !== undefined && newest !== seen) {
    try {
      window.localStorage.setItem(key, newest);
    } catch (error) {
      // full or refused: the next visit marks the same posts again
    }
  }
})();
