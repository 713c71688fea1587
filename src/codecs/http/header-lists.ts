/**
 * HTTP header values as lists, the one place they are taken apart: every occurrence of a header
 * (Node's `req.headers` drops or joins repeats), the elements of a comma-separated list (RFC 9110
 * §5.6.1), and the options of a Connection header. Pure: strings in, strings out.
 */

/** Every value of a header as sent, one per occurrence, from Node's `rawHeaders` (name, value, name, value, …). */
export function rawHeaderValues(rawHeaders: readonly string[], lowerCaseName: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === lowerCaseName) values.push(rawHeaders[i + 1]!);
  }
  return values;
}

/**
 * The elements of a comma-separated list header across all its values, in order: each trimmed of
 * spaces and tabs (the only whitespace HTTP allows there), empty elements dropped (RFC 9110 §5.6.1).
 */
export function listElements(values: string | readonly string[] | undefined): string[] {
  const lines = values === undefined ? [] : typeof values === 'string' ? [values] : values;
  const elements: string[] = [];
  for (const line of lines) {
    for (const part of line.split(',')) {
      const element = part.replace(/^[ \t]+|[ \t]+$/g, '');
      if (element !== '') elements.push(element);
    }
  }
  return elements;
}

/** The connection options a Connection header names, lowercased (RFC 9110 §7.6.1): `upgrade`, `keep-alive`, header names. */
export function connectionOptions(values: string | readonly string[] | undefined): Set<string> {
  return new Set(listElements(values).map((option) => option.toLowerCase()));
}
