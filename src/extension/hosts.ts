// Reads the `ratchet.hosts` setting, which accepts "user@host" strings or {name, ssh, gpus} objects.

export interface HostEntry {
  name: string;
  /** How it is reached: 'local', or the SSH destination. */
  address: string;
  gpus?: string;
}

export function parseHosts(raw: readonly unknown[]): HostEntry[] {
  const out: HostEntry[] = [];
  for (const h of raw) {
    if (typeof h === 'string' && h.trim()) out.push({ name: h.trim(), address: h.trim() });
    else if (h && typeof h === 'object') {
      const o = h as Record<string, unknown>;
      const address = typeof o.ssh === 'string' ? o.ssh : typeof o.host === 'string' ? o.host : undefined;
      if (!address) continue;
      out.push({ name: typeof o.name === 'string' ? o.name : address, address, gpus: Array.isArray(o.gpus) ? o.gpus.join(',') : typeof o.gpus === 'string' ? o.gpus : undefined });
    }
  }
  return out;
}

/** A destination typed in "Add GPU Host…": user@host or host, with an optional :port. */
export function validHostAddress(s: string): boolean {
  return /^([A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+(:\d{1,5})?$/.test(s.trim());
}
