/* Loaded by the login page, which only logged-out visitors see: nothing of the node stays in
   this browser. Clear-Site-Data does the same from the logout answer, but browsers ignore it
   over plain http on a LAN, and Chromium leaves sessionStorage to the tab. */
try { window.sessionStorage.clear(); window.localStorage.clear(); } catch (ignored) {}
