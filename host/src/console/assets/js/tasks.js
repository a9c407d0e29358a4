// Background tasks (recovers, bulk retries): following one until it has finished, its progress
// shown as it goes.

import { api, seg } from "./api.js";
import { fill } from "./dom.js";

/** Follows `task` (as a start answered it) until it has finished, writing its progress into
 * `progress`; returns it finished. */
export async function followTask(task, progress) {
  while (task.status === "running") {
    fill(progress, `Task ${task.id}: ${task.requeued} queued again so far…`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    task = await api("GET", `/v1/tasks/${seg(task.id)}`);
  }
  fill(progress, `Task ${task.id} ${task.status}: ${task.requeued} executions queued again.`);
  return task;
}
