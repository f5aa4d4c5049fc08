// Compression and encryption through a real mount: keys refused with one line and nothing
// written; a 256 MiB file of mixed data (zeros and text, then random) reads back across a
// remount, is reported stored below its logical size, and has its random half stored raw;
// the datastore file holds none of an encrypted file's plaintext; the policy changes online.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { clearMount, cli, fuseDaemon, isMounted, run, sha256 } from '../helpers/daemon.js';
import { openDatastore } from '../../src/cli/store.js';
import { Filesystem } from '../../src/fs/filesystem.js';
import { CODEC_COMPRESS_MASK, CODEC_SEALED, RECORD_HEADER } from '../../src/codec/record.js';
import { decodePtr, ExtentState } from '../../src/format/ptr.js';
import { DEFAULTS, MiB, rng, seedFromEnv } from '../helpers/mem.js';

const SIZE_MIB = Number(process.env.CODEC_MIB ?? 256);
const seed = seedFromEnv();
const rand = rng(seed);
let keyFile = '';
const d = await fuseDaemon(t, 'vdfs-codec-', async (base) => {
  keyFile = join(base, 'key');
  if ((await cli(['keygen', keyFile])).code !== 0) throw new Error('keygen failed');
  return ['--compress', 'deflate', '--encrypt', '--key-file', keyFile];
});
if (d) {
  t.comment(`seed ${seed}`);
  const store = join(d.dir, 'datastore.vdfs');
  const KEY = ['--key-file', keyFile];
  const src = join(d.base, 'mixed.src');
  const bs = DEFAULTS.blockSize;

  t.test('a missing, wrong, truncated or oversized key: one line, no mount, nothing written', async (t) => {
    const before = await sha256(store);
    const wrong = join(d.base, 'wrong'), short = join(d.base, 'short'), long = join(d.base, 'long');
    t.equal((await cli(['keygen', wrong])).code, 0, 'keygen');
    await writeFile(short, randomBytes(31));
    await writeFile(long, randomBytes(48));
    const cases: [string, string[], RegExp][] = [
      ['no key', [], /encrypted: give its key/],
      ['wrong key', ['--key-file', wrong], /wrong key/],
      ['wrong key, detached', ['--detach', '--key-file', wrong], /wrong key/],
      ['truncated key file', ['--key-file', short], /holds 31 bytes; a key is 32 raw bytes or 64 hex digits/],
      ['key file of the wrong size', ['--key-file', long], /holds 48 bytes/],
      ['no key file', ['--key-file', join(d.base, 'absent')], /cannot read key file .*ENOENT/],
      ['a device as key file (read no further than KEY_FILE_MAX_BYTES)', ['--key-file', '/dev/zero'], /holds over 128 bytes/],
    ];
    for (const [what, args, why] of cases) {
      const r = await cli(['mount', d.dir, d.mnt, ...args], { VDFS_RUN_DIR: d.runDir });
      t.not(r.code, 0, `${what}: refused`);
      t.match(r.err, why, `${what}: ${r.err.trim()}`);
      t.equal(r.err.trim().split('\n').length, 1, `${what}: one line`);
      t.notOk(await isMounted(d.mnt), `${what}: nothing mounted`);
    }
    t.equal(await sha256(store), before, 'the datastore file is unchanged');
    const plain = join(d.base, 'plain-ds'), plainMnt = join(d.base, 'plain-mnt');
    t.teardown(() => clearMount(plainMnt));
    t.equal((await cli(['mkfs', plain])).code, 0);
    const r = await cli(['mount', plain, plainMnt, '--key-file', keyFile], { VDFS_RUN_DIR: d.runDir });
    t.match(r.err, /has no key \(it is not encrypted\); to encrypt it: vdfs policy/, `a key for a datastore without one: ${r.err.trim()}`);
    t.notOk(await isMounted(plainMnt), 'nothing mounted');
  });

  t.test(`a ${SIZE_MIB} MiB file of mixed data: content across remount, stored below logical, random half raw`, async (t) => {
    // First half: 64 KiB pieces of zeros and of text, alternating; second half: random.
    const fh = await open(src, 'w');
    for (let i = 0; i < SIZE_MIB; i++) {
      const chunk = i < SIZE_MIB / 2 ? Buffer.alloc(MiB) : randomBytes(MiB);
      if (i < SIZE_MIB / 2) {
        for (let at = 64 * 1024; at < MiB; at += 128 * 1024) {
          let text = '';
          while (text.length < 64 * 1024) text += `${i}:${at}: sector ${Math.floor(rand() * 1e9)} of a guest filesystem journal\n`;
          chunk.write(text.slice(0, 64 * 1024), at, 'latin1');
        }
      }
      await fh.write(chunk);
    }
    await fh.close();
    const want = await sha256(src);
    await d.start(KEY);
    await run('dd', [`if=${src}`, `of=${d.at('mixed.raw')}`, 'bs=1M', 'conv=fsync', 'status=none']);
    t.equal(await sha256(d.at('mixed.raw')), want, 'content equal through the mount');
    const st = await d.vdfs('status', d.mnt);
    const { logicalBytes, storedBytes, compressRatio } = st.data;
    t.comment(`logical ${logicalBytes} stored ${storedBytes} ratio ${compressRatio}; codec ${JSON.stringify(st.codec)}`);
    t.equal(logicalBytes, (SIZE_MIB / 4) * 3 * MiB, 'logical bytes: the text and random blocks (zeros are zero extents)');
    t.ok(storedBytes < logicalBytes, `stored ${storedBytes} below logical ${logicalBytes}`);
    t.ok(st.codec.compressed > 0 && st.codec.storedRaw > 0, 'status counts compressed and raw records');
    await d.stop();

    const ds = await openDatastore(d.dir, { keyFile });
    try {
      const v = await new Filesystem(ds).resolve('/mixed.raw');
      const half = (SIZE_MIB / 2) * MiB / bs;
      const seen = { randomRaw: 0, randomOther: 0, textCompressed: 0, textOther: 0, unsealed: 0 };
      for await (const [k, val] of v.map.scan()) {
        const p = decodePtr(val);
        if (p.state !== ExtentState.Present) continue;
        const codec = (await ds.layout.readSeg(p.seg, p.off, RECORD_HEADER))[5];
        if (!(codec & CODEC_SEALED)) seen.unsealed++;
        const compressed = (codec & CODEC_COMPRESS_MASK) !== 0;
        if (Number(k.readBigUInt64BE(0)) >= half) seen[compressed ? 'randomOther' : 'randomRaw']++;
        else seen[compressed ? 'textCompressed' : 'textOther']++;
      }
      t.same(seen, { randomRaw: half, randomOther: 0, textCompressed: half / 2, textOther: 0, unsealed: 0 }, 'random blocks raw, text blocks compressed, all sealed');
    } finally { await ds.close(); }

    await d.start(KEY);
    t.equal(await sha256(d.at('mixed.raw')), want, 'content equal after remount');
  });

  t.test('the datastore file holds none of an encrypted file\'s plaintext; the policy changes online', async (t) => {
    const marker = `VDFS-PLAINTEXT-MARKER-${seed}-`;
    const plain = Buffer.from(marker.repeat(Math.ceil((4 * MiB) / marker.length)).slice(0, 4 * MiB));
    // Compression off, so that only encryption can hide the marker (deflate alone would too).
    const q = await d.vdfs('policy', d.mnt, '--compress', 'none');
    t.same(q.policy, { compress: 'none', level: 1, encrypt: true, keySet: true, keyHeld: true }, 'policy changed through the mount');
    await writeFile(d.at('secret.raw'), plain);
    await run('sync', [d.at('secret.raw')]);
    const count = async () => Number((await run('sh', ['-c', `grep -c -a -F '${marker}' ${store} || true`])).stdout.trim());
    t.equal(await count(), 0, 'no marker in the encrypted datastore file');
    await writeFile(d.at('key-on-mount'), 'x');
    const onMount = await cli(['policy', d.mnt, '--encrypt', '--key-file', d.at('key-on-mount')], { VDFS_RUN_DIR: d.runDir });
    t.match(onMount.err, /^vdfs: [^\n]*key-file [^\n]* is on this mount; the daemon does not read its own mount\n$/, 'a key file on the mount itself is refused, in one line');
    const usage = await cli(['policy', d.mnt, '--level', '12'], { VDFS_RUN_DIR: d.runDir });
    t.equal(usage.err, 'vdfs: level must be 1..9\n', 'a bad value: one line from the one parser');
    const p = await d.vdfs('policy', d.mnt, '--no-encrypt');
    t.same(p.policy, { compress: 'none', level: 1, encrypt: false, keySet: true, keyHeld: true }, 'encryption off through the mount');
    await writeFile(d.at('open.raw'), plain);
    await run('sync', [d.at('open.raw')]);
    t.ok((await count()) > 0, 'the same grep finds it once the same content is written unencrypted (the check can fail)');
    t.equal(await sha256(d.at('secret.raw')), await sha256(d.at('open.raw')), 'both read the same');
    await d.vdfs('policy', d.mnt, '--encrypt', '--compress', 'deflate');
    await d.stop();
  });
}
