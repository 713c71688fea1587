/** A started listener (gateway or legacy cluster), as the CLI and the tests see it. */
export interface RunningServer {
  /** Base URL clients use, e.g. `https://127.0.0.1:8443`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Stops accepting, ends open sessions and resolves once every socket is closed. */
  close(): Promise<void>;
}

export interface ListenAddress {
  host: string;
  port: number;
}

export interface ServerTls {
  cert: string | Buffer;
  key: string | Buffer;
}
