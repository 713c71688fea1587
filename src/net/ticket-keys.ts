import { randomBytes } from 'node:crypto';
import type { Server } from 'node:tls';

/** How often the listener replaces its session-ticket keys. */
const TICKET_KEY_ROTATION_MS = 60 * 60 * 1000;

/**
 * Replaces the TLS session-ticket keys of `server` every `everyMs`. Node makes them at random
 * once per SecureContext and keeps them for the life of the process (or until a certificate
 * reload): anyone who later read them from memory could decrypt every ticket issued since, and
 * with a TLS 1.2 ticket the recorded connection it resumes. Clients that resume (Go, browsers;
 * kubectl is a new process per command and does not) keep resuming between rotations; a ticket
 * issued before a rotation gets a full handshake instead. Tickets live 5 minutes anyway (Node's
 * default `sessionTimeout`). `rotate` does one rotation now.
 */
export function rotateTicketKeys(server: Server, everyMs = TICKET_KEY_ROTATION_MS): { rotate(): void; stop(): void } {
  const rotate = (): void => server.setTicketKeys(randomBytes(48));
  const timer = setInterval(rotate, everyMs);
  timer.unref();
  return { rotate, stop: () => clearInterval(timer) };
}
