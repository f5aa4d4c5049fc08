// Transaction-group scheduling's back-pressure (txn/txg.ts admit): a writer over the log limit
// waits for one commit, not for commits to stop; under both limits nothing waits; memory's bound
// holds whatever the log limit says; a failed commit lets waiting writers go. A fake source and datastore whose commits
// end when the test says so: every step is ordered by the test, none by time.
import t from 'tap';
import { TxgManager, TxgSource } from '../../src/txn/txg.js';
import type { Datastore } from '../../src/txn/datastore.js';
import type { Frozen } from '../../src/txn/commit.js';
import { LIMITS } from '../../src/limits.js';

const settle = () => new Promise<void>((r) => setImmediate(r));

/** A source with `log` estimated bytes open (a freeze takes them), and a datastore whose commits each wait for `release()`. */
function rig(limit: number) {
  const state = { log: 0, mem: 0, freezes: 0, commits: 0 };
  const gates: (() => void)[] = [];
  const src: TxgSource = {
    freeze: async () => { state.freezes++; state.log = 0; state.mem = 0; return { files: [] } as unknown as Frozen; },
    committed: () => undefined,
    hasChanges: () => state.log > 0,
    dirtyBytes: () => state.mem,
    logBytes: () => state.log,
    logLimit: () => limit,
  };
  const ds = { commit: () => new Promise<void>((r) => gates.push(() => { state.commits++; r(); })) } as unknown as Datastore;
  const txg = new TxgManager(ds, src, () => undefined);
  const release = async () => { await settle(); gates.shift()!(); await settle(); };
  return { state, txg, release, gates };
}

t.test('a writer over the log limit goes on after one commit, though another follows it', async (t) => {
  const { state, txg, release, gates } = rig(100);
  state.log = 150;
  let admitted = false;
  const w = txg.admit().then(() => { admitted = true; });
  await settle();
  t.equal(state.freezes, 1, 'the wait started a commit, which took what was open');
  t.notOk(admitted, 'the writer waits while it runs');
  state.log = 60; // other writers put some in the next group meanwhile (under the limit), and asked for a commit
  txg.kick();
  await release();
  t.ok(admitted, 'the writer went on when that commit ended');
  t.equal(gates.length, 1, 'while the next commit is still under way');
  await release();
  await w;
  t.equal(txg.stats.backPressureWaits, 1, 'one wait counted');
});

t.test('writers under both limits neither wait nor start a commit', async (t) => {
  const { state, txg } = rig(100);
  state.log = 100;
  await txg.admit();
  await settle();
  t.equal(state.freezes, 0, 'at the log limit: no commit');
  t.equal(txg.stats.backPressureWaits, 0, 'and no wait');
});

t.test('memory\'s bound holds whatever the log limit', async (t) => {
  const { state, txg, release } = rig(Infinity);
  state.mem = LIMITS.DIRTY_LIMIT_BYTES + 1;
  let admitted = false;
  const w = txg.admit().then(() => { admitted = true; });
  await settle();
  t.notOk(admitted, 'over DIRTY_LIMIT_BYTES in memory, the writer waits');
  await release();
  await w;
  t.ok(admitted, 'until a commit takes them');
  t.equal(state.commits, 1, 'one commit');
});

t.test('a failed commit releases the writers that wait', async (t) => {
  const state = { log: 500 };
  const src: TxgSource = {
    freeze: async () => ({ files: [] } as unknown as Frozen), committed: () => undefined,
    hasChanges: () => true, dirtyBytes: () => 0, logBytes: () => state.log, logLimit: () => 100,
  };
  const ds = { commit: async () => { throw new Error('disk gone'); } } as unknown as Datastore;
  let failed: unknown = null;
  const txg = new TxgManager(ds, src, (e) => { failed = e; });
  await txg.admit();
  t.ok(failed, 'the failure was reported');
  t.ok(txg.failure, 'and the writer went on (its write then meets the failure)');
});
