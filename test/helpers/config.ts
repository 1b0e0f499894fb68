// A small valid config for tests, with storage in a temp dir and listeners on free loopback ports.
import { type Config, parseConfig } from '../../gateway/config.js';

export function testConfigInput(storageDir: string): Record<string, unknown> {
  return {
    site: { name: 'Test plant', timezone: 'Europe/Berlin' },
    http: { listen: '127.0.0.1:0', publicUrl: 'http://127.0.0.1:8080' },
    ssh: { listen: '127.0.0.1:0', hostKeys: ['host_key_ed25519'] },
    oidc: {
      issuer: 'http://127.0.0.1:9/oidc',
      clientId: 'gatehouse-test',
      clientSecret: { env: 'GATEHOUSE_TEST_OIDC_SECRET' },
      roles: {
        vendor: ['vendors'],
        supervisor: ['ot-supervisors'],
        auditor: ['auditors'],
        admin: ['ot-admins'],
      },
    },
    storage: { dir: storageDir },
    targets: [
      {
        id: 'eng-ws-01',
        name: 'Engineering workstation 01',
        zone: 'Cell 2 / Level 2',
        securityLevel: 3,
        ssh: {
          host: '127.0.0.1',
          port: 22,
          username: 'maint',
          hostKeySha256: 'SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU',
          credential: { file: 'target-key' },
        },
        approvers: ['ot-supervisors'],
      },
    ],
  };
}

export function testConfig(storageDir: string): Config {
  const parsed = parseConfig(testConfigInput(storageDir));
  if (!parsed.ok) throw new Error(`test config invalid: ${JSON.stringify(parsed.problems)}`);
  return inStorage(parsed.config, storageDir);
}

/** The SSH host key under the test's storage dir: the gateway creates a missing one at start, never in the repo. */
const inStorage = (config: Config, storageDir: string): Config => ({
  ...config,
  ssh: { ...config.ssh, hostKeys: [`${storageDir}/ssh_host_ed25519_key`] },
});

/**
 * The test config signed in through a test IdP: listen and publicUrl on `port` (pick it first with
 * freePort, so publicUrl is the gateway's real origin), the client secret read from a file.
 */
export function testConfigWithOidc(
  storageDir: string,
  o: { port: number; issuer: string; clientId: string; clientSecretFile: string },
): Config {
  const input = testConfigInput(storageDir);
  const oidc = input.oidc as Record<string, unknown>;
  input.http = { listen: `127.0.0.1:${o.port}`, publicUrl: `http://127.0.0.1:${o.port}` };
  input.oidc = {
    ...oidc,
    issuer: o.issuer,
    clientId: o.clientId,
    clientSecret: { file: o.clientSecretFile },
  };
  const parsed = parseConfig(input);
  if (!parsed.ok) throw new Error(`test config invalid: ${JSON.stringify(parsed.problems)}`);
  return inStorage(parsed.config, storageDir);
}

/** A parsed config as a config file again (JSON is YAML): the forwarding list's declared protocols go back into its entries. */
export function configFileText(config: Config): string {
  const targets = config.targets.map(({ forwardProtocols, ...t }) => ({
    ...t,
    forwarding: t.forwarding.map((to) => (forwardProtocols?.[to] ? { to, protocol: forwardProtocols[to] } : to)),
  }));
  return JSON.stringify({ ...config, targets }, null, 2);
}
