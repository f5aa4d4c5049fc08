/**
 * The kernel binding's watchdog (a child of the daemon, in its own process group): when the pipe
 * from the daemon closes, the daemon has ended. If the mount at the path is still the one it
 * served (same device number: the daemon was killed before it could unmount), detach it lazily so
 * that the path does not stay "Transport endpoint is not connected".
 * Usage: node watchdog.js MOUNTPOINT MAJOR:MINOR
 */
import { execFile } from 'node:child_process';
import { mountDevice } from './kmount.js';

const [mnt, dev] = process.argv.slice(2);
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
process.stdin.on('data', () => undefined);
process.stdin.on('error', () => undefined);
process.stdin.on('close', () => {
  void mountDevice(mnt).then((now) => {
    if (dev && now === dev) execFile('umount', ['-l', mnt], () => process.exit(0));
    else process.exit(0);
  }, () => process.exit(1));
});
