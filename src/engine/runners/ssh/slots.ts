// The runner's own scheduler: real (host, GPU) slots, handed to runs as they ask. Only hosts that
// are up take new runs; runs wait in order for the next free slot, spread over the least-loaded
// host, and a host coming back (or a slot freeing) serves the queue at once.

export interface HostSlot {
  /** `target:gpuN`, or `target:cpu` for a host without GPUs. */
  id: string;
  host: string;
  /** CUDA_VISIBLE_DEVICES value; undefined on a CPU slot. */
  gpu?: string;
  busy: boolean;
}

interface Waiter {
  resolve(slot: HostSlot): void;
  reject(e: Error): void;
}

export class NoHostAvailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoHostAvailable';
  }
}

export class SlotPool {
  private readonly byHost = new Map<string, HostSlot[]>();
  private readonly up = new Set<string>();
  private readonly queue: Waiter[] = [];

  /** Sets a host's slots (after a probe); busy slots keep running. */
  setSlots(host: string, gpus: (string | undefined)[]): void {
    const old = this.byHost.get(host) ?? [];
    const slots = gpus.map((gpu) => {
      const id = `${host}:${gpu === undefined ? 'cpu' : `gpu${gpu}`}`;
      return old.find((s) => s.id === id) ?? { id, host, gpu, busy: false };
    });
    this.byHost.set(host, slots);
    this.serve();
  }

  setUp(host: string, isUp: boolean): void {
    if (isUp) this.up.add(host);
    else this.up.delete(host);
    this.serve();
  }

  isUp(host: string): boolean {
    return this.up.has(host);
  }

  get anyUp(): boolean {
    return this.up.size > 0;
  }

  /** A free slot of a host that is up; waits in line for one. */
  acquire(signal: AbortSignal): Promise<HostSlot> {
    return new Promise<HostSlot>((resolve, reject) => {
      if (signal.aborted) {
        reject(new Error('cancelled'));
        return;
      }
      const waiter: Waiter = {
        resolve: (s) => {
          signal.removeEventListener('abort', onAbort);
          resolve(s);
        },
        reject: (e) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      const onAbort = () => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        reject(new Error('cancelled'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
      this.serve();
    });
  }

  release(slot: HostSlot): void {
    slot.busy = false;
    this.serve();
  }

  /** Fails every waiting run, e.g. when no host came back in time. */
  failWaiting(e: Error): void {
    for (const w of this.queue.splice(0)) w.reject(e);
  }

  get waiting(): number {
    return this.queue.length;
  }

  private serve(): void {
    while (this.queue.length > 0) {
      const slot = this.pick();
      if (!slot) return;
      slot.busy = true;
      this.queue.shift()!.resolve(slot);
    }
  }

  private pick(): HostSlot | undefined {
    let best: HostSlot | undefined;
    let bestLoad = Infinity;
    for (const [host, slots] of this.byHost) {
      if (!this.up.has(host)) continue;
      const free = slots.find((s) => !s.busy);
      if (!free) continue;
      const load = slots.filter((s) => s.busy).length / slots.length;
      if (load < bestLoad) {
        best = free;
        bestLoad = load;
      }
    }
    return best;
  }
}
