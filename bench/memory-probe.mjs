// Memory breakdown of a bench's child process: `node --import bench/memory-probe.mjs …` with
// RATCHETD_MEMORY_PROBE_FILE=<path>. Every RATCHETD_MEMORY_PROBE_MS (500) it overwrites <path> with
// one JSON object (MB): VmRSS and what it is made of —
//   v8:     V8's heap (committed, physical) by space, used bytes, and what V8 counts outside it
//           (external, of which array buffers);
//   malloc: glibc malloc's resident memory: the main arena ([heap], brk) and the thread arenas
//           (anonymous 64 MiB-aligned reservations, counted and summed);
//   other_anon: every other anonymous mapping (V8's pages, large mmapped malloc chunks, stacks);
//   file:   file-backed pages (the node binary, shared libraries, LevelDB's mmapped tables);
//   gc:     major (mark-compact) collections so far, and the heap used just after the last one
//           (about what is live: the rest of heap_used is garbage the next one frees).
// Only benches load it (bench:soak --memory-detail); the daemon has no part in it.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';

const file = process.env.RATCHETD_MEMORY_PROBE_FILE;
const every = Number(process.env.RATCHETD_MEMORY_PROBE_MS ?? 500);
const ARENA = 64 * 1024 * 1024;
const mb = (bytes) => Math.round(bytes / 104857.6) / 10;

function mappings() {
  const maps = [];
  let cur;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (m) {
      cur = { start: parseInt(m[1], 16), end: parseInt(m[2], 16), perm: m[3], inode: m[4], name: m[5], rss: 0 };
      maps.push(cur);
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && cur) cur.rss = Number(rss[1]) * 1024;
  }
  const out = { main_arena: 0, thread_arenas: 0, thread_arena_count: 0, other_anon: 0, file: 0 };
  for (let i = 0; i < maps.length; i++) {
    const m = maps[i];
    if (m.name === '[heap]') out.main_arena += m.rss;
    else if (m.inode !== '0' || m.name.startsWith('/')) out.file += m.rss;
    else {
      // A thread arena: a read-write start at a 64 MiB boundary, the rest of the 64 MiB reserved (---p) after it.
      const next = maps[i + 1];
      const arena = m.perm.startsWith('rw') && m.start % ARENA === 0 && (m.end - m.start === ARENA || (next !== undefined && next.perm === '---p' && next.start === m.end && next.end - m.start === ARENA));
      if (arena) {
        out.thread_arenas += m.rss;
        out.thread_arena_count += 1;
      } else out.other_anon += m.rss;
    }
  }
  return out;
}

const gc = { major: 0, heap_used_after_last_major: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (entry.detail?.kind !== constants.NODE_PERFORMANCE_GC_MAJOR) continue;
    gc.major += 1;
    gc.heap_used_after_last_major = mb(process.memoryUsage().heapUsed);
  }
}).observe({ entryTypes: ['gc'] });

function sample() {
  const mem = process.memoryUsage();
  const heap = v8.getHeapStatistics();
  const maps = mappings();
  const spaces = {};
  for (const s of v8.getHeapSpaceStatistics()) if (s.space_size > 0) spaces[s.space_name.replace(/_space$/, '')] = { size: mb(s.space_size), used: mb(s.space_used_size) };
  return {
    at: Date.now(),
    rss: mb(mem.rss),
    v8: { heap_total: mb(mem.heapTotal), heap_physical: mb(heap.total_physical_size), heap_used: mb(mem.heapUsed), external: mb(mem.external), array_buffers: mb(mem.arrayBuffers), spaces },
    malloc: { main_arena: mb(maps.main_arena), thread_arenas: mb(maps.thread_arenas), thread_arena_count: maps.thread_arena_count },
    other_anon: mb(maps.other_anon),
    file: mb(maps.file),
    gc: { ...gc },
  };
}

if (file !== undefined && file !== '') {
  const write = () => {
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify(sample()));
    renameSync(tmp, file);
  };
  write();
  setInterval(write, every).unref();
}
