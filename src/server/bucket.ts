/**
 * A bucket of the embedded server: a name, a SASL password, its own store, and (once a cluster manager
 * has told it with SET_VBUCKET) the state of each vBucket, as membase's engine keeps it. A request for
 * a vBucket this node does not own as active is answered NOT_MY_VBUCKET, which is what makes a
 * rebalance real to a proxy: keys move because the servers say so.
 */
import type { Store } from './store.ts';

export const VBucketState = {
  /** No state set: the node does not own the vBucket. */
  None: 0,
  Active: 1,
  Replica: 2,
  Pending: 3,
  Dead: 4,
} as const;
export type VBucketState = (typeof VBucketState)[keyof typeof VBucketState];

const MAX_VBUCKETS = 65536;

export class Bucket {
  readonly name: string;
  readonly password: string;
  readonly store: Store;
  /** One state per vBucket id; null until the first SET_VBUCKET: the bucket then serves every key. */
  private states: Uint8Array | null = null;

  constructor(name: string, password: string, store: Store) {
    this.name = name;
    this.password = password;
    this.store = store;
  }

  /** Whether vBucket ownership is enforced (some SET_VBUCKET has been received). */
  get vbucketAware(): boolean {
    return this.states !== null;
  }

  stateOf(vbucket: number): VBucketState {
    return this.states === null ? VBucketState.None : (this.states[vbucket] as VBucketState);
  }

  setState(vbucket: number, state: VBucketState): void {
    this.states ??= new Uint8Array(MAX_VBUCKETS);
    this.states[vbucket] = state;
  }

  /** True when a keyed request for `vbucket` may be served here. */
  serves(vbucket: number): boolean {
    return this.states === null || this.states[vbucket] === VBucketState.Active;
  }
}
