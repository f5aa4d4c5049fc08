// Reads FILE (a small file on a mount, e.g. .control/status) back to back until STOPFILE is
// removed, then prints "p50 p99 max" of the request latency in ms: how long FUSE requests wait
// while the daemon is busy with something else. Usage: node latency-probe.mjs FILE STOPFILE
import { readFile, access } from 'node:fs/promises';

const [file, stop] = process.argv.slice(2);
const ms = [];
while (await access(stop).then(() => true, () => false)) {
  const t0 = performance.now();
  await readFile(file);
  ms.push(performance.now() - t0);
  await new Promise((r) => setTimeout(r, 5));
}
ms.sort((a, b) => a - b);
const q = (p) => (ms.length ? ms[Math.min(ms.length - 1, Math.floor(p * ms.length))] : 0).toFixed(1);
console.log(`${q(0.5)} ${q(0.99)} ${ms.length ? ms[ms.length - 1].toFixed(1) : 0}`);
