// The OpenSSH client options every vendor-side test uses: this key only, the gateway's host key pinned, no
// config or agent from the machine, one try at the code prompt.
export function vendorSshOptions(o: { keyPath: string; knownHosts: string }): string[] {
  return [
    '-F',
    '/dev/null',
    '-i',
    o.keyPath,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${o.knownHosts}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'ConnectTimeout=10',
    '-o',
    'NumberOfPasswordPrompts=1',
  ];
}
