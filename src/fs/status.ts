/** The figures /.control/status and `vdfs status` report (JSON). */
import type { Filesystem } from './filesystem.js';
import { LIMITS } from '../limits.js';
import { policyView } from './commands.js';
import { loopDelay } from './loop-delay.js';

const round = (x: number) => Math.round(x * 100) / 100;

/** The write path's figures: requests → elements → sets → logical → physical transactions. */
function writePath(fs: Filesystem): Record<string, unknown> {
  const w = fs.writes.stats, t = fs.txg.stats;
  const lat = fs.txg.latency();
  return {
    mode: fs.opts.commitPerWrite ? 'commit-per-write' : 'batched',
    writeRequests: fs.counters.writes, sgArrays: w.arrays, sgElements: w.elements, sgSets: w.sets,
    logicalTransactions: w.sets /* one per set */, transactionDependent: w.dependent,
    resolutions: { overwrite: w.overwrite, merge: w.merge, zeroFill: w.zeroFill, oldBlock: w.oldBlock },
    physicalTransactions: t.commits, physicalWithWrites: t.commitsWithWrites,
    meanLogicalPerPhysical: t.commitsWithWrites ? round(t.logicalTxns / t.commitsWithWrites) : 0,
    commitLatencyMs: { p50: round(lat.p50), p99: round(lat.p99) },
    // one sync per commit (txn/commit.ts) and one per oplog append (oplog/chain.ts)
    syncs: fs.ds.commits + fs.journal.stats.logSyncs, commitSyncs: fs.ds.commits, oplogSyncs: fs.journal.stats.logSyncs,
    syncRequests: t.syncRequests, backPressureWaits: t.backPressureWaits,
    eventLoopDelayMs: loopDelay() ?? undefined,
  };
}

/** `alarmsShown`: how many of the newest kept alarms to list. */
export function statusOf(fs: Filesystem, alarmsShown: number = LIMITS.ALARMS_KEPT): Record<string, unknown> {
  const ds = fs.ds;
  const sf = fs.statfs();
  const health = fs.txg.failure ? 'FAILED' : fs.alarms.count ? 'ALARM' : 'ONLINE';
  return {
    health,
    error: fs.txg.failure ? String(fs.txg.failure) : undefined,
    txg: Number(ds.txg),
    lastCommit: ds.lastCommit && { txg: Number(ds.lastCommit.txg), time: new Date(ds.lastCommit.time).toISOString(), bytes: ds.lastCommit.bytes, ms: Math.round(ds.lastCommit.ms * 10) / 10 },
    logWrites: ds.layout.direct ? ds.writeMode.status() : { policy: 'buffered only (the layout takes no direct writes)' },
    space: {
      capacityBytes: sf.blocks * sf.bsize, usedBytes: ds.space.usedBytes(), freeBytes: sf.bfree * sf.bsize,
      segments: ds.space.segCount, freeSegments: ds.space.freeSegments(), segmentSize: ds.sb.segmentSize, blockSize: ds.blockSize,
      cleaner: fs.cleaner.stats,
    },
    data: {
      logicalBytes: ds.data.logical, storedBytes: ds.data.stored,
      compressRatio: ds.data.stored ? round(ds.data.logical / ds.data.stored) : 1,
      readAhead: { fetches: ds.readAhead.fetches, hits: ds.readAhead.hits, dropped: ds.readAhead.dropped },
      readBuffers: ds.loans?.counters,
      recordsWritten: { blocks: ds.written.blocks, subBlocks: ds.written.subBlocks },
    },
    codec: { ...policyView(fs), records: ds.codec.stats.compressed + ds.codec.stats.raw, compressed: ds.codec.stats.compressed, storedRaw: ds.codec.stats.raw, sealed: ds.codec.stats.sealed, encodeMs: Math.round(ds.codec.stats.encodeMs) },
    dirtyBytes: fs.dirtyBytes(),
    writePath: writePath(fs),
    oplog: fs.journal.status(),
    operations: [...fs.operations.values()],
    alarms: { count: fs.alarms.count, recent: alarmsShown ? fs.alarms.recent.slice(-alarmsShown) : [] },
    io: fs.counters,
    layout: ds.layout.status(),
  };
}
