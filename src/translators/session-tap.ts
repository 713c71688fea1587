import { requestAttributes } from '../auth/request-attributes.js';
import { SessionTapRefusal, type OpenedTap, type SessionTap, type SessionTapFactory, type TappedSession } from './bridge.js';
import type { SessionSubject } from './session-log.js';
import type { UpstreamCall } from './upstream-call.js';

/** A session's tap as its translator holds it: opened, refused, or none; and where its failures go. */
export interface SessionTapOpening {
  opened?: OpenedTap;
  /** The session must not run: the message for the client's Status. */
  refused?: string;
  /** Once the session runs: how a tap that can no longer work ends it (a failure before that ends it at once). */
  onFailure(end: (message: string) => void): void;
}

/**
 * Opens the factory's tap for one session (before the upstream is dialled, so a session that must
 * not run costs no upstream connection), and names it on the request's audit events.
 */
export async function openSessionTap(factory: SessionTapFactory | undefined, call: UpstreamCall, subject: SessionSubject, tty: boolean, ports?: number[]): Promise<SessionTapOpening> {
  let end: ((message: string) => void) | undefined;
  let early: string | undefined;
  const onFailure = (ender: (message: string) => void): void => {
    end = ender;
    if (early !== undefined) ender(early);
  };
  if (!factory) return { onFailure };
  try {
    const opened = await factory.open({
      subject,
      tty,
      ports,
      identity: { user: call.identity?.user ?? { name: call.user ?? '', groups: [], extra: {} }, attributes: call.identity?.attributes ?? requestAttributes({ method: 'POST', url: call.path }) },
      fail: (message) => (end ? end(message) : (early ??= message)),
    });
    if (opened?.name) call.annotate?.({ 'kube-stream-gateway/recording': opened.name });
    return { opened, onFailure };
  } catch (error) {
    if (!(error instanceof SessionTapRefusal)) throw error;
    return { refused: error.message, onFailure };
  }
}

/**
 * Several factories as the translators' one `tap` option (recording, live views): each is opened for
 * the session, in order; the session's tap hands every payload and event to each opened one, and
 * carries the first recording name. A refusal by any of them refuses the session.
 */
export function combineTapFactories(factories: readonly (SessionTapFactory | undefined)[]): SessionTapFactory | undefined {
  const present = factories.filter((factory): factory is SessionTapFactory => factory !== undefined);
  if (present.length <= 1) return present[0];
  return {
    failClosed: present.some((factory) => factory.failClosed),
    async open(session: TappedSession): Promise<OpenedTap | undefined> {
      const opened = (await Promise.all(present.map((factory) => factory.open(session)))).filter((tap): tap is OpenedTap => tap !== undefined);
      if (opened.length <= 1) return opened[0];
      const taps: SessionTap[] = opened.map((each) => each.tap);
      const tap: SessionTap = {
        bytes: (direction, route, payload) => {
          for (const each of taps) each.bytes(direction, route, payload);
        },
        event: (name, detail) => {
          for (const each of taps) each.event(name, detail);
        },
      };
      const name = opened.find((each) => each.name)?.name;
      const content = opened.some((each) => each.content) ? { content: true } : {};
      return name ? { tap, name, ...content } : { tap, ...content };
    },
  };
}
