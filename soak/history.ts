// The baseline issue #20 quotes: hand measurements before the fixes, kept as they were
// measured (they are not re-run: the code they measured is gone). Appended to every report.
export const HISTORY = `
## Before the fixes (historical, measured by hand on 2026-12-03)

The issue's probes on commit ffe9cb9 (2026-12-02) and the hand measurements of 2026-12-03 on
9c8bbdd, the commit before the fixes, on the same machine (2 shared cores). One-off scripts;
the sections above re-measure each area on the current commit.

| area | probe | before the fixes |
|---|---|---|
| damaged LevelDB | \`.ldb\` table truncated to half | exit 1, \`unexpected error: Error: IO error: …/000005.ldb: Invalid argument\` (stack) |
| damaged LevelDB | \`.log\` truncated to half | started, 1,500 of 3,000 delivered, no warning |
| damaged LevelDB | 2,000 bytes of garbage in the middle of the \`.log\` | started, 2,920 of 3,000 delivered, no warning |
| damaged LevelDB | \`CURRENT\` deleted | started, 0 of 3,000 delivered; the \`.ldb\` was deleted by LevelDB |
| damaged LevelDB | \`LOCK\` deleted | 3,000 of 3,000 |
| log-bridge segment | 2,000 bytes of garbage in the second of 10 segments | \`/api/streams\` 3,000 records, \`/records\` 2,842 (the issue's probe: 2,643 with other segment sizes), no warning, nothing in /metrics; garbage in the active segment truncated every record after it at start |
| full disk | acknowledged before the disk filled | 10 (the 11th: connection closed, no PUBACK) |
| full disk | \`/healthz\` while full | 200 \`ok\` |
| full disk | delivered after \`kill -9\` and restart | **10 of 30: the 20 acknowledged after the episode were lost, silently** |
| full disk | a CONNECT while the disk is full | the connection closed without CONNACK |
| stray acknowledgement | one PUBREC for an unused packet id, persistent QoS 1 subscriber | the broker exited (\`uncaught exception\`): embedded 4 of 5 runs, Redis 2 of 2; a fuzzer hit it after 38,301 packets |
| SUBSCRIBE bomb | one SUBSCRIBE with 1,000 filters, persistent session | SUBACK after 32 s, RSS 2.68 GB, no other client could connect; 3,000 filters: 6.08 GB, the broker stopped answering; 20,000 filters over packets of 500: 186 s, 866 MB (embedded) |
| frozen subscriber | five healthy QoS 1 subscribers beside one that never acknowledges | 1,200 messages in 30 s; PUBACK p99 30,022 ms |
| kill -9 cycles | 10 cycles per storage, two of them killing redis-server | 0 acknowledged lost for good (75,581 embedded, 81,088 Redis); Redis delivered 1,106 acknowledged messages one restart late (the cycle after a redis-server kill) |
| unfinished packets | 300 sockets x ~1 MB unfinished PUBLISH, keep alive 0 | RSS 80 → 376 MB, never closed (Mosquitto no better) |
| session churn | 50,000 connect/disconnect cycles of persistent sessions | 25,000 sessions left, RSS 83 → 256 MB |
| slowloris | 3,000 sockets with a partial CONNECT | closed at 10.0 ± 0.1 s while normal clients connected in 3-4 ms (Mosquitto never closes them) |
| fuzzer | 130,000 mutated packets over 65,810 clean-session connections | no crash, canary 20,000/20,000 in order, RSS back to ~90 MB |
| log flood | malformed connections | one warn line each: 54,010 lines for 65,810 fuzz connections |
| brute force | guesses at one username from 100 addresses | never throttled |
`
