// The demo shop's product page. The shop tells the chat what the customer looks at
// and puts in the cart, so recommendations can build on it. The stub queues calls
// until the widget loads. A file of its own, not an inline <script>: the pages'
// Content-Security-Policy runs no inline script.
(function () {
  "use strict";
  window.Concierge = window.Concierge || {
    q: [],
    open() { this.q.push(["open", []]); },
    close() { this.q.push(["close", []]); },
    track(...args) { this.q.push(["track", args]); },
  };
  const data = document.getElementById("product-sku");
  if (!data) return;
  const sku = JSON.parse(data.textContent);
  window.Concierge.track("view", sku);
  document.querySelector(".add-to-cart").addEventListener("click", () => {
    window.Concierge.track("add_to_cart", sku);
    document.querySelector(".cart-note").textContent = "Added to your cart.";
  });
})();
