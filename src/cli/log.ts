/** pino logger: JSON, or pretty when stderr is a terminal. Logs go to stderr. */
import { pino } from 'pino';

export function makeLogger(level = process.env.VDFS_LOG ?? 'info') {
  if (process.stderr.isTTY) {
    return pino({ level, transport: { target: 'pino-pretty', options: { destination: 2, colorize: true } } });
  }
  return pino({ level }, pino.destination(2));
}
export type Logger = ReturnType<typeof makeLogger>;
