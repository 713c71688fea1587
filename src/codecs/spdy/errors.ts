/** RST_STREAM status codes (SPDY/3 §2.4.2). */
export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
  FRAME_TOO_LARGE: 11,
} as const;

/** GOAWAY status codes (SPDY/3 §2.6.6). */
export const GoawayStatus = {
  OK: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
} as const;

/** Input that breaks SPDY framing; the connection answers with GOAWAY(status) and closes. */
export class SpdyProtocolError extends Error {
  constructor(
    message: string,
    readonly goawayStatus: number = GoawayStatus.PROTOCOL_ERROR,
  ) {
    super(message);
    this.name = 'SpdyProtocolError';
  }
}
