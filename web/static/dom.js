// Building DOM nodes without ever parsing HTML: every piece of text (names,
// messages, ids, server error messages) goes in through textContent, and
// attributes through setAttribute from a fixed list of names that can hold
// no script. Nothing in the client uses innerHTML, insertAdjacentHTML,
// document.write or eval, and the Content-Security-Policy would refuse
// inline handlers anyway.

const SAFE_ATTRS = new Set([
  "class", "id", "type", "role", "hidden", "title", "tabindex", "disabled",
  "aria-label", "aria-live", "aria-current", "aria-selected", "aria-controls",
  "data-id", "data-peer", "data-state", "data-pending", "datetime",
]);

// el creates an element; attrs values are set as attributes (names outside
// SAFE_ATTRS throw), children are nodes or strings (added as text nodes).
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (!SAFE_ATTRS.has(name)) throw new Error("attribute not allowed: " + name);
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return node;
}

// text sets a node's text, never its markup.
export function text(node, s) {
  node.textContent = s;
}
