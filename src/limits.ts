/**
 * Every bound vdfs keeps, in one place. Format constants (sizes fixed on disk) are marked
 * "format"; the rest are runtime limits that may change without a format change.
 */
export const LIMITS = {
  /** format: bytes of the header region before segment 0 (superblocks + commit ring). */
  HEADER_REGION: 1024 * 1024,
  /** format: size of one superblock copy / commit slot. */
  SLOT_SIZE: 4096,
  /** format: number of commit slots in the ring. */
  COMMIT_SLOTS: 64,
  /** format: byte offset of the commit ring. */
  COMMIT_RING_OFFSET: 64 * 1024,
  /** format default: segment size. */
  SEGMENT_SIZE: 4 * 1024 * 1024,
  /** format default: logical block size of a vdisk. */
  BLOCK_SIZE: 32 * 1024,
  /** format: bytes of a sub-block (format/map-value.ts): a write that covers whole sub-blocks of a block is stored as sub-block records. */
  SUB_BYTES: 4096,
  /** format: most sub-block records laid over one block; a write that would pass it rewrites the whole block. */
  OVERLAY_MAX_SUBS: 8,
  /** format: every transaction group starts its appends on this alignment (torn-write safety). */
  TXG_ALIGN: 4096,
  /** format: largest serialized B+tree node payload. */
  NODE_MAX_BYTES: 16 * 1024,
  /**
   * A node is split once its entries pass this many bytes (runtime; nodes up to NODE_MAX_BYTES
   * stay valid, older datastores' larger ones split as they change). Smaller nodes mean less
   * metadata rewritten per random write: each one dirties a whole leaf.
   */
  NODE_SPLIT_BYTES: 4 * 1024,
  /**
   * Log bytes allowed per dirty block for the tree nodes its commit rewrites (fs/log-bytes.ts):
   * its map leaf at its largest (NODE_SPLIT_BYTES and one more entry, framed and sealed) and a
   * share of the nodes above it, which blocks of one commit mostly share.
   */
  LOG_NODE_BYTES_PER_BLOCK: 6 * 1024,
  /** Keys of at most this many bytes are compared in JS (meta/node-codec.ts compareKeys); longer ones by Buffer.compare, whose call into C++ costs more than a short loop. */
  KEY_COMPARE_JS_BYTES: 24,
  /** Keys and values of at most this many bytes are copied byte by byte into an encoded node; longer ones with TypedArray.set. */
  NODE_COPY_JS_BYTES: 32,
  /** format: largest key in any tree. */
  KEY_MAX_BYTES: 8 + 255,
  /** format: largest value in any tree (inline symlink targets). */
  VALUE_MAX_BYTES: 4096 + 256,
  /** format: largest number of log extents one commit may name. */
  COMMIT_MAX_EXTENTS: 160,
  /** Bytes of dirty file data at which a commit starts early. */
  DIRTY_COMMIT_BYTES: 32 * 1024 * 1024,
  /** Bytes of dirty file data above which writers wait for a commit (back-pressure). */
  DIRTY_LIMIT_BYTES: 128 * 1024 * 1024,
  /** Bytes of dirty-block buffers kept for reuse once their commit is durable (txn/dirty-blocks.ts): the back-pressure limit's worth. */
  DIRTY_POOL_BYTES: 128 * 1024 * 1024,
  /** Milliseconds between timed commits. */
  COMMIT_INTERVAL_MS: 1000,
  /** Commit latencies kept for the p50/p99 figures. */
  LATENCY_SAMPLES: 1024,
  /** Longest slice of a commit's (or the cleaner's) work on the event loop before requests get a turn (ms). */
  COMMIT_SLICE_MS: 2,
  /** How often the event-loop delay is sampled for status (ms). */
  LOOP_DELAY_RESOLUTION_MS: 1,
  /** Inodes kept in memory when clean and not open. */
  INODE_CACHE: 4096,
  /** Bytes the /.control/status file reports as its size (its content is shorter; reads end at the content). */
  STATUS_FILE_BYTES: 64 * 1024,
  /** Largest file name (bytes), as on Linux. */
  NAME_MAX: 255,
  /** Largest symlink target (bytes). */
  SYMLINK_MAX: 4095,
  /** Largest file size vdfs accepts (bytes): 16 TiB. */
  FILE_MAX_BYTES: 16 * 1024 ** 4,
  /** Largest single FUSE read/write request: what the kernel binding asks for (max_pages 256); fuse-native gets libfuse 2's 128 KiB. */
  FUSE_MAX_WRITE: 1024 * 1024,
  /** The most a FUSE request carries without max_pages: libfuse 2 (fuse-native), or a kernel that does not offer it. */
  FUSE_DEFAULT_MAX_WRITE: 128 * 1024,
  /** Kernel binding: background requests (read-ahead, async direct I/O) the kernel may have in flight at once. */
  FUSE_MAX_BACKGROUND: 64,
  /** Kernel binding: threads that wait in read(2) on /dev/fuse and pass requests to the main thread. */
  FUSE_READERS: 2,
  /** A request at least this long (a large WRITE) is handed over in its reader's buffer, which comes back once applied (fuse/kernel/reader.ts). */
  FUSE_LENT_REQUEST_BYTES: 64 * 1024,
  /** Request buffers that came back a reader keeps (each FUSE_MAX_WRITE and a little). */
  FUSE_SPARE_REQUESTS: 16,
  /** A reply at least this long is written on libuv's pool, off the event loop (fuse/kernel/session.ts). */
  FUSE_ASYNC_REPLY_BYTES: 64 * 1024,
  /** Kernel binding: longest wait for INIT after mounting, and for the connection to end after unmounting (then it is aborted). */
  FUSE_CLOSE_WAIT_MS: 10_000,
  /** Kernel binding: the kernel's read-ahead for the mount (KiB; its default is 128). */
  FUSE_READ_AHEAD_KB: 4096,
  /** Kernel binding: how long the kernel may cache a name or attributes (ms); /.control's are never cached. */
  FUSE_ATTR_VALID_MS: 1000,
  /** A FUSE request not answered by then is answered ETIMEDOUT (fuse-native's own 15 s timer is off). */
  FUSE_OP_TIMEOUT_MS: 60_000,
  /** Write requests to one file gathered into one scatter-gather array (the rest wait for the next). */
  SG_MAX_ELEMENTS: 256,
  /** Bytes of write requests to one file gathered into one scatter-gather array. */
  SG_MAX_BYTES: 8 * 1024 * 1024,
  /**
   * Gathering window: event-loop turns a file's first queued write waits for others. Applying an
   * array takes no I/O (partly written blocks are filled later), so with 0 every request was an
   * array of its own; one turn gathers the requests the binding delivered together (16 direct
   * writes in flight: 4016 requests in 321 arrays), at no cost measurable on the issue-3 job
   * (2425–2911 IOPS, against 2772–2915 with 0).
   */
  SG_GATHER_TURNS: 1,
  /** fallocate's zeroing (punch hole, zero range): bytes of zeros per write it sends through the write path. */
  FALLOCATE_ZERO_RUN_BYTES: 1024 * 1024,
  /** A walk of a file's map for where its data lies (fallocate's zeroing, lseek) yields to the event loop after this many entries. */
  DATA_MAP_YIELD_ENTRIES: 4096,
  /** lseek's SEEK_DATA / SEEK_HOLE walk the block map this many blocks at a time. */
  LSEEK_WINDOW_BLOCKS: 32768,
  /** Open handles of each kind (files; /.control; /.snapshots): each kind has its own range of this many numbers. */
  FH_SPAN: 1 << 28,
  /** Bytes of a refused command repeated in last-error, the log and error messages. */
  COMMAND_ECHO_BYTES: 200,
  /** Longest snapshot name (bytes). */
  SNAP_NAME_MAX: 64,
  /** Snapshots one file may have at once. */
  SNAPSHOTS_PER_FILE: 1024,
  /** Longest control command line (bytes, the newline excluded). */
  COMMAND_MAX_BYTES: 4096,
  /** Bytes of a command's reply kept for reading back through its handle. */
  COMMAND_REPLY_MAX_BYTES: 1024 * 1024,
  /** Files one `snapshot create DIR` may cover. */
  SNAPSHOT_DIR_FILES_MAX: 4096,
  /** Bytes of restored blocks read ahead before they are applied to the live file. */
  RESTORE_BATCH_BYTES: 16 * 1024 * 1024,
  /** Alarms kept for /.control/status (older ones are counted, not kept). */
  ALARMS_KEPT: 100,
  /** The cleaner empties segments whose live bytes are below this fraction of a segment. */
  CLEAN_MAX_LIVE: 0.6,
  /** The datastore file grows without cleaning while its live bytes are at least this fraction of it. */
  CLEAN_UTILIZATION: 0.7,
  /** Free segments the cleaner keeps in hand beyond what the open txg's dirty data needs. */
  CLEAN_RESERVE_SEGMENTS: 4,
  /** Segments the cleaner reads before one commit (what it relocates joins that commit). */
  CLEAN_MAX_SEGMENTS_PER_TXG: 64,
  /** Estimated log bytes of the open txg writers may always reach, however short the free pool is while the cleaner works (fs/log-bytes.ts). */
  CLEAN_MIN_LOG_BYTES: 4 * 1024 * 1024,
  /** Blocks the cleaner reads whole at once to fold their sub-blocks in (each a base and its sub-block records). */
  CLEAN_FOLD_READS: 16,
  /** Bytes of records the cleaner relocates into one commit. */
  CLEAN_MAX_BYTES_PER_TXG: 64 * 1024 * 1024,
  /** Compression level new datastores get (fflate 1..9): 1 is the fastest, and fflate is slow at higher levels. */
  COMPRESS_DEFAULT_LEVEL: 1,
  /** A compressed block is kept only when at most this fraction of its size (else it is stored raw). */
  COMPRESS_KEEP_RATIO: 0.875,
  /** Bytes of a block the incompressibility probe samples (evenly spaced). */
  COMPRESS_PROBE_SAMPLES: 4096,
  /** Sampled order-0 entropy (bits per byte) above which a block is stored raw without trying DEFLATE. */
  COMPRESS_PROBE_MAX_BITS: 7.5,
  /** Records one key epoch seals before a new epoch (and key) begins: GCM's invocation bound per key. */
  SEAL_RECORDS_PER_EPOCH: 1n << 32n,
  /** Epoch keys kept derived for reading (each costs one HKDF to derive again). */
  EPOCH_KEYS_CACHED: 256,
  /** Bytes of data blocks in one codec job (one worker message; one event-loop turn when inline). */
  CODEC_JOB_BYTES: 1024 * 1024,
  /** Most codec worker threads (the default is one per core up to this). */
  CODEC_WORKERS_MAX: 4,
  /** Codec workers started again after dying, per datastore open (then the work is done inline). */
  CODEC_WORKER_RESPAWNS: 8,
  /** Largest key file read (a key is 32 raw bytes or 64 hex digits and a newline). */
  KEY_FILE_MAX_BYTES: 128,
  /** Milliseconds between progress polls of /.control/status by the CLI. */
  PROGRESS_POLL_MS: 500,
  /** Bytes written to the backing target in one call while committing. */
  WRITE_CHUNK_BYTES: 4 * 1024 * 1024,
  /**
   * Bytes written to a file target since its last sync after which an fdatasync starts in the
   * background (backing/target.ts). One WRITE_CHUNK_BYTES: sequential 1 MiB writes through the
   * mount ran at 556 MiB/s (mean of six) against 508 with 16 MiB, ec:4+2 at 328 against 292.
   */
  WRITEBACK_HINT_BYTES: 4 * 1024 * 1024,
  /** Staging buffers (WRITE_CHUNK_BYTES each) kept for direct writes of the log (backing/direct.ts); more are allocated while writes are in flight, and dropped. */
  DIRECT_POOL_BYTES: 64 * 1024 * 1024,
  /** A commit appending at least this much is a sample of how fast its way of writing the log is (log/write-mode.ts); random-write commits append less. */
  DIRECT_SAMPLE_BYTES: 32 * 1024 * 1024,
  /** Samples of each way (direct, buffered) taken and kept to choose the faster. */
  DIRECT_SAMPLES: 3,
  /** After this many samples the way not chosen is measured again. */
  DIRECT_REPROBE_SAMPLES: 32,
  /** Where a direct-write buffer's alignment is probed: in the header region, between the commit ring and the second superblock, where the format writes nothing (its bytes are written back unchanged). */
  DIRECT_PROBE_AT: 512 * 1024,
  /** Direct writes' file offsets, lengths and buffer addresses are multiples of this (a file-system block). */
  DIRECT_ALIGN: 4096,
  /** Read streams a file target keeps a descriptor each for (a spread layout reads each role as its own stream: ec:4+2 has 6). */
  READ_STREAMS: 8,
  /** Buffers in one vectored write (Linux's IOV_MAX). */
  IOV_MAX: 1024,
  /** format (spread layouts): data bytes of one fragment unit; a stripe is k units. */
  UNIT_BYTES: 4096,
  /** format (spread layouts): bytes of a label copy, of a table page. */
  SPREAD_PAGE: 4096,
  /** format (spread layouts): where the datastore's header region starts in each target file. */
  SPREAD_HEADER_BASE: 64 * 1024,
  /** Largest number of targets one layout spreads over (the table's missing masks and refs are sized by it). */
  TARGETS_MAX: 16,
  /** Segments a spread layout's table has room for unless mkfs says otherwise (1 TiB of 4 MiB segments). */
  SPREAD_MAX_SEGMENTS: 1 << 18,
  /** Most segments `--max-segments` may ask for (64 TiB of 4 MiB segments; the table region is sparse until used). */
  SPREAD_MAX_SEGMENTS_CAP: 1 << 24,
  /** format (spread layouts): refs one segment entry holds (its missing mask is 32 bits): k + m and 2k (degraded copies) at most this. */
  SPREAD_REFS_MAX: 32,
  /**
   * Bytes of write buffers a spread layout keeps for reuse (backing/buffer-pool.ts): ten 4 MiB
   * log writes' pieces at ec:4+2. A target writes one piece at a time (backing/target.ts), so a
   * commit's pieces wait their turn; with room for two, `dd` of 1 GiB to ec:4+2 wrote 96-171 MiB/s
   * (mean 132, seven runs), with this 117-173 (mean 149), the larger ahead in six of seven pairs.
   */
  SPREAD_POOL_BYTES: 64 * 1024 * 1024,
  /**
   * Stripes whose parity the SIMD coder makes in one pass (backing/rs.ts combineStripes): each
   * source's units of this many stripes side by side in its memory, 192 KiB at ec:4+2 with 4 KiB
   * units, which stays in the core's cache between the passes over it.
   */
  SPREAD_CODE_STRIPES: 8,
  /** Pooled buffers are multiples of this, so I/O of nearly one size shares buffers. */
  SPREAD_POOL_GRAIN: 64 * 1024,
  /** Copies a degraded EC write keeps (enough to survive one more target failure). */
  DEGRADED_COPIES: 2,
  /**
   * Stripes of every data role a sequential read of a spread layout reads at once (256 KiB per
   * role at 4 KiB units, 1 MiB of data at ec:4+2, as READ_AHEAD_RUN_BYTES for one file): cold
   * reads of 64 KiB ran at 563 MiB/s on the CI disk, of 256 KiB at 973.
   */
  READ_AHEAD_STRIPES: 64,
  /** A fast (unverified) spread read of at least this many stripes reads into pooled buffers and keeps nothing for later. */
  SPREAD_DIRECT_STRIPES: 32,
  /**
   * Bytes of a spread target's chunks handed out together to one kind, data roles or the others
   * (backing/chunk-alloc.ts). The kernel's read-ahead runs some 8-11 MiB past the end of a run of
   * data chunks into whatever lies next: ec:4+2 on three targets read 1.50 bytes from the disk
   * per byte of a 1 GiB file with chunks of both kinds side by side, 1.39 with 16 MiB bands,
   * 1.10 with 64 MiB ones. At most one band of each kind is left partly used on a target.
   */
  SPREAD_BAND_BYTES: 128 * 1024 * 1024,
  /** Stripes a spread layout's read-ahead keeps (k × 4 KiB each: 8 MiB for ec:4+2, eight read-aheads). */
  READ_AHEAD_KEPT_STRIPES: 512,
  /** How far past a sequential read of a vdisk its next blocks are fetched ahead (fs/read-ahead.ts). */
  READ_AHEAD_BYTES: 2 * 1024 * 1024,
  /** A read is sequential when it starts within this (or two of its own length) of where the last ended. */
  READ_AHEAD_SEQ_SLACK_BYTES: 128 * 1024,
  /** Longest single read of back-to-back records that read-ahead makes. */
  READ_AHEAD_RUN_BYTES: 1024 * 1024,
  /** Bytes of records fetched ahead that the datastore keeps (divided by the block size: records). */
  READ_AHEAD_CACHE_BYTES: 64 * 1024 * 1024,
  /** Of those, bytes of records already taken that it keeps (for readers of other parts of their blocks): 256 records of 32 KiB. */
  READ_AHEAD_TAKEN_BYTES: 8 * 1024 * 1024,
  /** A record fetched ahead and not taken while this many cache capacities of later records were fetched is dropped first. */
  READ_AHEAD_UNTAKEN_CAPACITIES: 2,
  /** Bytes of the runs those records were read in that they may keep in memory (a record is a slice of its run). */
  READ_AHEAD_PINNED_BYTES: 128 * 1024 * 1024,
  /** Bytes of read buffers given back that the datastore keeps for later reads (txn/read-loans.ts): 32 runs. */
  READ_POOL_BYTES: 32 * 1024 * 1024,
  /** Milliseconds between checks that each target is still the file that was opened. */
  HEALTH_PROBE_MS: 1000,
  /** First and longest wait before a failing or missing target is tried again (doubling). */
  RETRY_FIRST_MS: 1000,
  RETRY_MAX_MS: 60_000,
  /** Most bytes one oplog block takes in its segment, header and padding included (or the segment size, when smaller). */
  OPLOG_BLOCK_BYTES: 1024 * 1024,
  /** Room left in a segment below which the oplog's next block goes to a fresh segment (a 4 KiB write's block takes 8 KiB). */
  OPLOG_MIN_ROOM_BYTES: 64 * 1024,
  /** Writes larger than this are not logged: an fsync after one commits the txg (large writes gain nothing from the oplog). */
  OPLOG_MAX_WRITE_BYTES: 128 * 1024,
  /** Bytes of applied writes held for the oplog until logged or committed; past it the log is not used until the next commit. */
  OPLOG_PENDING_BYTES: 32 * 1024 * 1024,
  /**
   * The oplog's copies of small writes held for the next fsync are cut from buffers of this size
   * (fs/journal.ts), one allocation per slab instead of one per write; a write larger than a
   * quarter of it gets its own.
   */
  OPLOG_SLAB_BYTES: 256 * 1024,
  /** Segments one oplog chain may hold; past it an fsync commits the txg instead (which lets the chain's old segments go). */
  OPLOG_MAX_SEGMENTS: 32,
} as const;

/** Assertion for invariants on hot paths: cheap, and fatal to the operation. */
export function invariant(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(`invariant violated: ${what}`);
}
