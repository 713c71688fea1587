/**
 * Splits a request target into path and query without `new URL`, which throws on targets such as
 * `//` (read as a protocol-relative URL with no host): a request line is client input and must never
 * raise out of a router.
 */
export function splitRequestTarget(target: string): { pathname: string; query: URLSearchParams } {
  const mark = target.indexOf('?');
  return mark < 0
    ? { pathname: target, query: new URLSearchParams() }
    : { pathname: target.slice(0, mark), query: new URLSearchParams(target.slice(mark + 1)) };
}
