/**
 * Entry of a -t N worker process (forked by the primary, see primary.ts): everything it needs arrives
 * over IPC, so its own command line is empty.
 */
import { tuneHeap } from '../cli/heap.ts';
import { runWorker } from './worker.ts';

tuneHeap();
runWorker();
