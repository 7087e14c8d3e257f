import { createConnection, createServer, type Server, type Socket } from "node:net";
import type { App } from "firebase-admin/app";
import { getFirestore, type Firestore, type Settings } from "firebase-admin/firestore";

/**
 * A TCP proxy that delays every chunk by a fixed one-way delay in each direction, so a round trip
 * through it costs at least twice the delay: what a Firestore client on a server tens of
 * milliseconds from its database feels, reproduced on the loopback emulator. Benchmarks only.
 *
 * Nagle is off on both sockets (a delayed small write must not wait for an ACK that is itself
 * delayed), chunks leave in the order they arrived, and a half-close is forwarded once the chunks
 * before it have left. Backpressure: a direction whose receiver is full pauses its sender.
 *
 * `blackHoleOpenConnections()` makes it a fault proxy: the connections open at that moment stay
 * open but nothing crosses them any more, in either direction (what a dropped NAT mapping or a
 * partition looks like to a client); connections opened afterwards work.
 */
export interface DelayProxy {
  /** `127.0.0.1:port`, for FIRESTORE_EMULATOR_HOST. */
  hostPort: string;
  oneWayDelayMs: number;
  /** Connections accepted so far, and the most open at once. */
  stats(): { connections: number; open: number; maxOpen: number };
  blackHoleOpenConnections(): void;
  close(): Promise<void>;
}

export async function startDelayProxy(target: { host: string; port: number }, oneWayDelayMs: number): Promise<DelayProxy> {
  if (!Number.isFinite(oneWayDelayMs) || oneWayDelayMs < 0)
    throw new Error(`one-way delay must be a number of ms >= 0, got ${oneWayDelayMs}`);
  const sockets = new Set<Socket>();
  const counts = { connections: 0, maxOpen: 0 };
  const blackHoled = new WeakSet<Socket>();
  // Half-open allowed, so that each direction ends on its own, after its delayed chunks.
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = createConnection({ ...target, allowHalfOpen: true });
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      // Either side failing ends the pair: the client sees the connection drop, as it would in production.
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    counts.connections++;
    counts.maxOpen = Math.max(counts.maxOpen, sockets.size / 2);
    forward(client, upstream, oneWayDelayMs, blackHoled);
    forward(upstream, client, oneWayDelayMs, blackHoled);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    hostPort: `127.0.0.1:${port}`,
    oneWayDelayMs,
    stats: () => ({ connections: counts.connections, open: Math.floor(sockets.size / 2), maxOpen: counts.maxOpen }),
    blackHoleOpenConnections: () => {
      for (const s of sockets) blackHoled.add(s);
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** One direction: a FIFO of chunks, each released `delayMs` after it arrived. */
function forward(from: Socket, to: Socket, delayMs: number, blackHoled: WeakSet<Socket>): void {
  const queue: { due: number; chunk: Buffer | null }[] = []; // null: the sender half-closed
  let timer: NodeJS.Timeout | undefined;
  const release = () => {
    timer = undefined;
    const now = performance.now();
    while (queue.length && queue[0].due <= now) {
      const { chunk } = queue.shift()!;
      if (chunk === null) {
        to.end();
        return;
      }
      if (!to.write(chunk) && !from.isPaused()) {
        from.pause();
        to.once("drain", () => from.resume());
      }
    }
    if (queue.length) timer = setTimeout(release, Math.max(0, queue[0].due - now));
  };
  const push = (chunk: Buffer | null) => {
    queue.push({ due: performance.now() + delayMs, chunk });
    if (delayMs === 0) release();
    else timer ??= setTimeout(release, delayMs);
  };
  from.on("data", (chunk: Buffer) => {
    if (!blackHoled.has(from)) push(chunk);
  });
  from.on("end", () => push(null));
}

/**
 * A Firestore client of `app` that reaches the emulator through `proxy`. The SDK reads
 * FIRESTORE_EMULATOR_HOST when the client is made, and it wins over a `host` setting.
 */
export function firestoreThrough(proxy: DelayProxy, app: App, settings: Settings = {}): Firestore {
  const direct = process.env.FIRESTORE_EMULATOR_HOST;
  process.env.FIRESTORE_EMULATOR_HOST = proxy.hostPort;
  try {
    const db = getFirestore(app);
    db.settings(settings);
    return db;
  } finally {
    process.env.FIRESTORE_EMULATOR_HOST = direct;
  }
}
