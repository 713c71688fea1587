/**
 * Headers on every answer of the web interface. The Content-Security-Policy allows only the
 * gateway's own scripts, styles and connections (no inline script, no CDN, no framing). `styleNonce`
 * admits the `<style>` elements the terminal library (xterm.js) creates at run time: the page's
 * own script gives them the nonce, which only it can read; an injected element cannot.
 * `'wasm-unsafe-eval'` lets the page's own script compile WebAssembly (the asciinema player's
 * terminal emulator, bundled inside app.js); it allows no JavaScript eval and no other script.
 */
export function securityHeaders(styleNonce?: string): Record<string, string> {
  const styleSource = styleNonce === undefined ? "'self'" : `'self' 'nonce-${styleNonce}'`;
  return {
    'content-security-policy': [
      "default-src 'self'",
      "script-src 'self' 'wasm-unsafe-eval'",
      `style-src ${styleSource}`,
      "img-src 'self' data:",
      "connect-src 'self'",
      "object-src 'none'",
      "base-uri 'none'",
      "form-action 'self'",
      "frame-ancestors 'none'",
    ].join('; '),
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
  };
}
