import { setFlagsFromString } from 'node:v8'

/**
 * V8 setting for a process that applies feed deltas (the daemon; the re-assessment bench runs the
 * same): young-generation collections are started from a task once the young generation is a
 * quarter full (V8's default is 80%).
 *
 * Why: a delta that reaches 45,000 images allocates ~5–10 MB (one event object per image, the
 * re-matched findings). With the default trigger the collection mostly lands inside such a
 * delta, by allocation failure, while its working set is alive: 8–15 ms on the machines we
 * measured, more than the delta itself. Started from a task, it runs on the event loop between
 * deltas, when that working set is garbage (2–4 ms, off the delta's path). The flag is read at
 * every allocation step, so setting it after start takes effect.
 */
export function collectYoungBetweenDeltas(): void {
  setFlagsFromString('--minor-gc-task-trigger=25')
}
