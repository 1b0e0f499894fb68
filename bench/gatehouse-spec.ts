// What the bench and its Gatehouse child (gatehouse-child.ts) tell each other over IPC.

/** The target's id: also the SSH login name on the gateway. */
export const TARGET_ID = 'bench-target';

/** The first message to the child. */
export interface ChildSpec {
  storageDir: string;
  target: { port: number; username: string; hostKeySha256: string; credentialFile: string };
  vendors: Array<{ publicKey: string; totpSecret: string }>;
  /** false: the relay runs with recording's o/i streams dropped (the overhead measurement only). */
  recording: boolean;
  /** Profile the gateway's CPU from the end of seeding until stop, and write the .cpuprofile here. */
  cpuProfilePath?: string;
}

/** The child's answer once the gateway listens and the vendors and grants are in place. */
export interface ChildReady {
  ready: true;
  sshPort: number;
  hostKeyPublic: string;
  httpUrl: string;
  seedMs: number;
  /** Where vendor 0's browser connects for the /ws/ssh measurement (its sign-in: the `sign-in` command). */
  browser: { origin: string; grantId: string };
}
