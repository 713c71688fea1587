/**
 * A percent-encoded segment decoded, or kept as it is when it does not decode (as Go's
 * url.PathUnescape callers in the API server fall back). Path segments are matched before decoding,
 * so an encoded `/` cannot change a route.
 */
export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
