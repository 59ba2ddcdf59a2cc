// Every default of the daemon's services in one place, named, with the reason for its value.

/** A whole merge (a Fusion fold of many modules takes minutes on 2 cores): past it, the thread is stopped. */
export const DEFAULT_MERGE_DEADLINE_MS = 20 * 60_000
/** A compute thread idle this long is stopped: an idle daemon holds no second and third V8 heap. */
export const DEFAULT_COMPUTE_IDLE_MS = 60_000
/** Verifying one module (decode, CID, shapes, distilled set): seconds at most for the largest allowed. */
export const DEFAULT_CHECK_DEADLINE_MS = 60_000

/** Announcements parked until their parent root is known, in all. */
export const DEFAULT_PENDING_MAX = 1024
/** ...and from any one peer (or source), so one peer cannot fill the pool. */
export const DEFAULT_PENDING_PER_PEER = 128
/** A parent that has not appeared in this long is not coming: the entry is dropped. */
export const DEFAULT_PENDING_TTL_MS = 10 * 60_000

/** Per blob, per peer. */
export const DEFAULT_FETCH_TIMEOUT_MS = 30_000
/** Modules fetched at once. */
export const DEFAULT_FETCH_CONCURRENCY = 4
/** Modules waiting to be fetched (beyond it, the periodic sweep picks them up later). */
export const DEFAULT_FETCH_QUEUE_MAX = 10_000
/** Retry after a failed fetch: 200 ms doubling to 5 s (peers often have not finished fetching it themselves). */
export const DEFAULT_FETCH_RETRY_MIN_MS = 200
export const DEFAULT_FETCH_RETRY_MAX_MS = 5000
/** The sweep that re-queues modules still missing blobs. */
export const DEFAULT_FETCH_SWEEP_MS = 3000

/**
 * Peers asked for their records on each periodic sync tick. One: gossip delivers nearly every
 * record and a new connection syncs in full, so the tick only catches what gossip missed; three
 * a tick at 50 daemons was about a tenth of an idle network's CPU (BENCHMARKS, issue 16 part 9).
 */
export const DEFAULT_SYNC_PEERS_PER_TICK = 1

/** A publication waits this long for the site's previous module of the task to be merged. */
export const DEFAULT_PUBLISH_WAIT_MS = 10 * 60_000

/** Gossip older than this is a replay (rejected as stale): old records travel by sync. */
export const DEFAULT_MAX_GOSSIP_AGE_MS = 3_600_000
/** Gossip messages per second each peer may send before being throttled (burst: 10 s worth). */
export const DEFAULT_PEER_MESSAGES_PER_SECOND = 50
/** Announcements per minute one author may make (after its signature verifies). */
export const DEFAULT_AUTHOR_ANNOUNCEMENTS_PER_MINUTE = 30

/** Penalty points fed into the application score (gossipsub graylists at -80). */
export const PENALTY = { throttled: 2, hashMismatch: 50, tooLarge: 50, invalidModule: 30, fetchFailed: 2 } as const
