/* The prose of docs/BENCHMARKS.md that does not depend on one run's numbers. */

/** How tasks/s was measured: runs before the metric changed measured from the path's first RPC. */
const throughputText = (fromAllStarted: boolean) =>
  fromAllStarted
    ? `Tasks/s is the tasks that reached \`done\` (Firestore's update time) from the moment
every process of the path had made its first RPC to the last task's \`done\`, over that span: it leaves out process
start-up, which on a loaded machine takes seconds per process and would otherwise count against the paths of several
processes.`
    : `Tasks/s is the tasks that reached \`done\` over the span from the path's first RPC
to the last task's \`done\` (Firestore's update time), which leaves out process start-up (of the first process only:
a path of several processes is charged the time its later processes spent loading).`;

export const method = (
  fromAllStarted: boolean,
) => `**How the mirror is measured.** Production Firestore is tens of milliseconds away from a function or
a worker; the loopback emulator answers in about one. So every mirror path talks to the emulator through a delay
proxy (bench/delayProxy.ts: a TCP proxy, Nagle off on both sockets, each chunk released a fixed one-way delay after it
arrived, in order), and every path runs as its own process(es), the way it runs in production:
\`lib/workers/mirrorQueueWorker.js\` for the standalone worker (1, 2 and 4 at once), \`lib/index.js\`'s
\`onMirrorQueueTaskCreated\` called with the CloudEvent Eventarc delivers (the created document, protobuf-encoded),
80 events at a time (Cloud Functions' default concurrency per instance), and bench/mirrorChild.ts for the naive
loop and the batched floor. Each run seeds a fresh project with upsert tasks (distinct public items of 20 owners,
under auto-ids as the app's \`add()\` makes them), starts the path, and stops it when the queue is drained or the
time cap is reached. ${throughputText(fromAllStarted)}

**How operations are counted.** In each process, by a preload (\`node -r bench/countingPreload.js\`, never part of
the product) that intercepts the Firestore SDK's gRPC calls (bench/opCounter.ts): every RPC attempt by method,
retries included, with its duration and status; billed operations by Firestore's billing rules from the requests and
responses: 1 read per document a lookup returns, found or missing; 1 read per document a query returns, at least 1
per query; 1 read per aggregation; per successful commit 1 write per set/update/create and 1 delete per delete.
Claims are the task writes that set \`claimedAt\` (a lease, or the \`done\` mark that carries a claim made in the
commit), counted per task and process: a task is lost to a process when none of its claim writes landed there (its
commits failed their precondition because another worker changed the task first). Every RPC that takes 5 s or more is listed under Stalls.

**Noise.** The emulator is one JVM sharing 2 cores with the workers, so absolute speeds are this machine's, and runs
vary: each measurement is repeated and reported as the median with the range. Ratios within one run hold better than
absolute numbers; operation counts per task are exact and carry over to production billing.`;

export const PATHS_TEXT = `**The paths.** *Naive loop*: one task at a time, 5 sequential round trips (query 1 pending task, mark it
\`processing\`, read the source, write the mirror, mark it \`done\`), no lease, fencing, ordering or deletion safety.
*Batched floor*: the least a mirror must do, batched: one query for 500 pending tasks, one \`getAll\` of their 500
sources, one commit of 500 mirror writes and 500 \`done\` marks (3 round trips per 500 tasks, 2 reads and 2 writes
per task), with no lease, ordering or profile. Neither is correct enough to ship; they bound the design from below
and above. *Best settings*: the fastest of the batch/pool candidates, each tried once, then run again; its sweep run
counts as one of its runs, so its median leans towards the best of the candidates. *The code
before the change* (when the run is given \`--before DIR\`): the standalone worker of an earlier build, with the seed
defaults, measured in the same run and under the same conditions as the others, so that the "before" ratio compares
like with like.`;

export const ANALYSIS = `### Where the round trips and billed operations go

Per new upsert task on the poller path (the seed defaults, a batch of 12 in one transaction):

| operation | billed | round trips | what it buys |
| --- | ---: | --- | --- |
| the pending query returns the task | 1 read | 1 per batch | the work itself: the task's payload and its update time, which is the claim's fence |
| \`getAll\` of the history item | 1 read | 1 per batch, all the batch's items and mirror docs in one | the source decides: read inside the transaction, so a change to the item before the commit runs the transaction again |
| \`getAll\` of the mirror doc | 1 read | (the same) | the owner check, the ordering mark (\`mirrorTaskCreatedAt\`, \`mirrorTaskId\`), the optimization fields to keep, whether the signup cache lists it |
| the owner's profile | at most 1 read per owner per batch, and per 30 s in a standalone worker | beside the \`getAll\`, outside the transaction | \`createdBy\` from the one document only its user writes |
| the mirror write | 1 write | 1 per batch, one commit for all | the effect |
| the \`done\` mark, conditioned on the task's update time as read | 1 write | (the same commit) | takes the task out of the queue, records the outcome, and is the claim: of two workers that read the task, one commit lands |

So 3 round trips per batch (4 when the query wraps round the queue; the page's overlaps the batch before it) against 3 per task (claim, \`getAll\`, commit)
plus the poll's before this change, and 5 or 6 billed operations per upsert (5 once the owner's profile is shared) on
a poller, 5 on the trigger path, which takes the task from its event and reads the profile for each task. What is
left is the floor's 2 reads and 2 writes, plus the mirror doc read (without it an upsert could not keep the
optimization fields, check the owner or order against a newer task) and the profile (without it, \`createdBy\`
would come from client-written data). The retry-due and lease-expired queries cost 2 reads per poll while the pending
page is not full and once per 10 s while it is. A task claimed with a lease (a retry, an expired lease, a backlog
older than 10 minutes) costs 1 write and 1 round trip more.

**Why 4 processes do not reach 3 × 1 here.** One worker at the seed defaults is bound by round trips: 3 per batch of
12 (the page, the transaction's read, its commit), the next page read while a batch is applied. Several processes
share this machine: each task costs CPU in the worker and in the emulator (the "CPU ms/task" column: CPU time
of the path's processes from their first RPC, and of the emulator's JVM over the run, per task done), and 2 cores
give 2,000 ms of CPU a second to the emulator and every process together. The targets table divides the one by the
other: the tasks/s this machine's CPU allows the 4-process path, against 3 times one worker. That ceiling rules the
target out on this machine, but it is not what holds the 4 processes back: they reach well under it (the targets
table's last 4-process row); the table of runs points at their meetings, below (fewer aborted commits, faster runs). In production each worker's
Firestore work runs on Firestore's servers and each process on its own CPU, so only the worker's share of the CPU
stays; the meetings stay too. Claims lost: when two workers' cursors meet,
both read the same page and one commit lands; the loser drops the page it read ahead (most likely the other's next
page) and moves its cursor to a random point of the id space. Most meetings cost the loser a failed commit and a
re-read. Where the two transactions hold the same mirror docs, Firestore aborts one of them: the emulator does so only
after its 2 s lock timeout, which the winner waits out too, and the SDK then retries the loser after a 0.5 to 1.5 s
backoff; a longest commit of about 2,000 ms in the table of runs above is that timeout, and the runs with fewer
aborted commits are the faster ones. Production Firestore also delays or fails one of two contending transactions
(https://cloud.google.com/firestore/docs/transaction-data-contention); how long it delays cannot be measured here.
A random point lands in some worker's wake (tasks done, none pending) as often as the id space behind the workers is
done, so most of the remaining meetings come in the last part of a drain.

**Latency.** The poller sleeps \`MIRROR_POLL_INTERVAL_MS\` (2.5 s) after a poll that moved tasks on but was not
full, and polls again at once after a full one, so a task enqueued at a steady rate below capacity waits for the
next poll (up to one interval), then for the batch ahead of it: the p99 is one interval plus a batch. The first empty
poll after a burst waits one interval too; only polls that keep finding nothing double the wait (up to 15 s). Task
ids are auto-ids, so a new task can land behind the worker's cursor; a poll whose page is not full reads on from the
start of the queue, so that costs no extra wait.`;

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
