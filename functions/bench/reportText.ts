/* The prose of docs/BENCHMARKS.md that does not depend on one run's numbers. */

export const METHOD = `**How the mirror is measured.** Production Firestore is tens of milliseconds away from a function or
a worker; the loopback emulator answers in about one. So every mirror path talks to the emulator through a delay
proxy (bench/delayProxy.ts: a TCP proxy, Nagle off on both sockets, each chunk released a fixed one-way delay after it
arrived, in order), and every path runs as its own process(es), the way it runs in production:
\`lib/workers/mirrorQueueWorker.js\` for the standalone worker (1, 2 and 4 at once), \`lib/index.js\`'s
\`onMirrorQueueTaskCreated\` called with the CloudEvent Eventarc delivers (the created document, protobuf-encoded),
80 events at a time (Cloud Functions' default concurrency per instance), and bench/mirrorChild.ts for the naive
loop and the batched floor. Each run seeds a fresh project with upsert tasks (distinct public items without
\`createdBy\`, so each reads the source and the owner's profile), starts the path, and stops it when the queue is
drained or the time cap is reached. Tasks/s is the tasks that reached \`done\` over the span from the path's first RPC
to the last task's \`done\` (Firestore's update time), which leaves out process start-up.

**How operations are counted.** In each process, by a preload (\`node -r bench/countingPreload.js\`, never part of
the product) that intercepts the Firestore SDK's gRPC calls (bench/opCounter.ts): every RPC attempt by method,
retries included, with its duration and status; billed operations by Firestore's billing rules from the requests and
responses: 1 read per document a lookup returns, found or missing; 1 read per document a query returns, at least 1
per query; 1 read per aggregation; per successful commit 1 write per set/update/create and 1 delete per delete.
Claims are the writes that set \`status: "processing"\` on a task; a claim is lost when its commit fails its
precondition because another worker changed the task first. Every RPC that takes 5 s or more is listed under Stalls.

**Noise.** The emulator is one JVM sharing 2 cores with the workers, so absolute speeds are this machine's, and runs
vary: each measurement is repeated and reported as the median with the range. Ratios within one run hold better than
absolute numbers; operation counts per task are exact and carry over to production billing.`;

export const PATHS_TEXT = `**The paths.** *Naive loop*: one task at a time, 5 sequential round trips (query 1 pending task, mark it
\`processing\`, read the source, write the mirror, mark it \`done\`), no lease, fencing, ordering or deletion safety.
*Batched floor*: the least a mirror must do, batched: one query for 500 pending tasks, one \`getAll\` of their 500
sources, one commit of 500 mirror writes and 500 \`done\` marks (3 round trips per 500 tasks, 2 reads and 2 writes
per task), with no lease, ordering or profile. Neither is correct enough to ship; they bound the design from below
and above. *Best settings*: the fastest of the batch/pool candidates, each tried once, then repeated.`;

export const ANALYSIS = `### Where the round trips and billed operations go (written for the mirror core of commit a641063, before issue 15's change: update it with the core)

Per upsert task on the poller path: the due-task query returns the task (1 read); the new-task scan pages over
\`createdAt\` and reads every task once more (1 read); the claim is a commit of its own (1 write, 1 round trip);
\`getAll\` of the mirror doc, the ordering state and the source (3 reads, 1 round trip); the owner's profile for
\`createdBy\` (1 read, 1 round trip, after the \`getAll\` because it depends on the source); the fenced commit of the
mirror write, the state mark and the \`done\` mark (3 writes, 1 round trip). That is 4 round trips in sequence per
task, 6 reads and 4 writes; per poll, the scan cursor (1 read, 1 write), the scan query and the three due queries (at
least 1 read each, 2 round trips in sequence before the first claim). With a pool of 4 the worker has at most 4 such
chains in flight, so at 10 ms one-way (about 25 ms per round trip here) one worker makes about
4 × 1000 / (4 × 25) ≈ 40 tasks/s at best, and less with the poll's own round trips between batches. The trigger path
reads the task again although its event holds it (1 read, 1 round trip), then does the same.

Several pollers all read the same oldest pending tasks and race for them: the losers' claim commits fail their
precondition ("claims lost" above), each costing a round trip and a query read, so 4 processes do barely more than 1.

What the core must change to meet the targets (each remaining operation should buy a guarantee):
- **Round trips per batch, not per task**: one \`getAll\` for the mirrors, states, sources and (deduplicated)
  profiles of the whole batch; the claim folded into the final commit (the commit is conditioned on the task's update
  time as the query read it, which is the fence; a lease write is then needed only for work that outlives one
  commit) or all of a batch's claims in one commit; one commit per task kept for failure isolation, all sent at once.
  That is 3 round trips per batch instead of 4 per task.
- **Fewer billed operations**: no scan re-read (the app writes \`status\`, or a bounded scan of status-less tasks
  only); no separate claim write; the trigger uses the task in its event; profiles read once per batch and user;
  a done task deleted rather than marked and TTL-deleted a week later (1 delete instead of 1 write + 1 delete), if the
  contract's \`done\` status may be dropped (issue 12 allows it).
- **Workers that take different tasks**: each poller starts at a different place in the due set (for example a
  random or per-worker offset into the first few batches, or a shard field written by the app and a per-worker
  shard order), so that claims rarely collide; the benchmark reports the share of claims lost.`;

export const STALL_FINDING = `**Where the 60 s stalls come from.** An RPC that waits until its deadline (60 s for a commit, 300 s per attempt for
a read) and ends \`DEADLINE_EXCEEDED\` is what any silently dead connection produces: gRPC, without keepalive, does not
notice that nothing comes back, and the SDK's read retries go down the same connection (the table above reproduces it
exactly with a black-holing proxy). Every run of this benchmark lists each RPC of 5 s or more (above); through this
proxy, which forwards both directions independently, releases each chunk on its own timer and ends or destroys both
sides of a pair together, none was seen in the runs made while it was written (over 100,000 RPCs from up to four
processes at once, at 0 and 10 ms, on a machine loaded far beyond its 2 cores), nor through a cruder proxy that
serializes chunks behind one another (its RPCs took up to 2.3 s, none timed out). A proxy that stops forwarding
one direction of a connection (a half-closed pair left open, one side destroyed without the other) makes the client
wait in exactly this way; the emulator and the worker code, measured here, do not. The product can be held up the same way in production, where
connections die silently (reports of Firestore calls ending \`DEADLINE_EXCEEDED\` after 60 to 270 s on Cloud Run and
Cloud Functions are common): a worker's pool slots or a function instance wait out the deadline while the task's lease
runs out. \`core/firestoreSettings.ts\` bounds it: keepalive pings detect the dead connection and the calls are retried
on a new one (the "worker settings" rows).`;
