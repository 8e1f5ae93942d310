/** Where the admin endpoint listens (`--admin`). */
export interface AdminAddress {
  host: string;
  port: number;
}

/**
 * `--admin`'s value: "port", ":port", "addr:port" or "[v6addr]:port". The address defaults to
 * 127.0.0.1: the endpoint shows the servers and traffic of the fleet, so exposing it is a choice.
 */
export function parseAdminAddress(text: string): AdminAddress | null {
  const m = /^(?:\[([^\]]+)\]:|([^:[\]]*):)?(\d{1,5})$/.exec(text.trim());
  if (m === null) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  // groups that did not take part are undefined (the array's type does not say so)
  const bracketed = m[1] as string | undefined;
  const plain = m[2] as string | undefined;
  const host = bracketed ?? (plain !== undefined && plain !== '' ? plain : '127.0.0.1');
  return { host, port };
}
