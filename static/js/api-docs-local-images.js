// The API docs pages load nothing from outside this server. ReDoc 2.x renders a footer logo from
// cdn.redoc.ly that no option turns off; offline (or under a strict CSP) that request can only
// fail. So an <img> given a source on another origin gets none (api-docs.css hides it).
(function () {
  "use strict";
  const setAttribute = Element.prototype.setAttribute;
  function outside(value) {
    try {
      const url = new URL(String(value), document.baseURI);
      return url.protocol !== "data:" && url.protocol !== "blob:" && url.origin !== window.location.origin;
    } catch (ignored) {
      return false;
    }
  }
  Element.prototype.setAttribute = function (name, value) {
    if (this instanceof HTMLImageElement && String(name).toLowerCase() === "src" && outside(value)) return;
    return setAttribute.call(this, name, value);
  };
})();
