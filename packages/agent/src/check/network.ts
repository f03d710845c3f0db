import { lookup } from 'node:dns/promises';
import { isIP, Socket } from 'node:net';

/** Outcome of one network probe: ok, or the Node error code (ENOTFOUND, ECONNREFUSED, ETIMEDOUT…). */
export type ProbeResult =
  { readonly ok: true; readonly detail: string } | { readonly ok: false; readonly code: string };

/** Resolves a host name the way the drivers will (getaddrinfo: hosts file, DNS, NetBIOS on Windows). */
export async function probeDns(host: string): Promise<ProbeResult> {
  if (isIP(host)) return { ok: true, detail: `${host} is an IP address (no name to resolve)` };
  try {
    const addresses = await lookup(host, { all: true });
    return { ok: true, detail: `${host} resolves to ${addresses.map((a) => a.address).join(', ')}` };
  } catch (error) {
    return { ok: false, code: String((error as NodeJS.ErrnoException).code ?? 'ENOTFOUND') };
  }
}

/** Opens (and closes) one TCP connection, as the driver's first step would. */
export function probeTcp(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const started = Date.now();
    const finish = (result: ProbeResult) => {
      socket.removeAllListeners();
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => finish({ ok: false, code: 'ETIMEDOUT' }));
    socket.once('error', (error: NodeJS.ErrnoException) =>
      finish({ ok: false, code: String(error.code ?? 'ECONNREFUSED') }),
    );
    socket.connect(port, host, () =>
      finish({ ok: true, detail: `${host}:${port} accepted a connection (${Date.now() - started} ms)` }),
    );
  });
}
