// Types for fuse-native 2.2.6, which ships none. Only what vdfs uses is declared.
declare module 'fuse-native' {
  type Cb = (...args: unknown[]) => void;
  export interface FuseOptions {
    force?: boolean; mkdir?: boolean; autoUnmount?: boolean; defaultPermissions?: boolean;
    allowOther?: boolean; fsname?: string; subtype?: string; debug?: boolean;
    timeout?: number | false | Record<string, number | false>;
  }
  export default class Fuse {
    constructor(mnt: string, ops: object, opts?: FuseOptions);
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    static unmount(mnt: string, cb: (err: Error | null) => void): void;
    protected _fuseOptions(): string;
  }
}
