// CLI entry: `gatehouse <command>`. Each command lives in gateway/cli/; startup errors are translated here.
import {
  type CliIo,
  describeStartupError,
  processIo,
  runAuditVerify,
  runConfigCheck,
  runDemo,
  runEvidenceExport,
  runEvidenceVerify,
  runRdpCert,
  runRecordingsVerify,
  runServe,
  runStorageMigrate,
  runUsersResetTotp,
} from './cli/cli.js';
import { version } from './version.js';

const usage = `Gatehouse ${version} — privileged remote access for industrial sites

usage:
  gatehouse serve [--config config/gatehouse.yaml] [--accept-missing-audit-head]
                                                       run the gateway (web + API + SSH)
  gatehouse demo [--dir PATH | --fresh] [--nodes N [--postgres URL]]
                                                       run everything embedded, with demo users and a demo target;
                                                       state is kept between runs unless --fresh (or --dir) is given;
                                                       --nodes 2: two gateway nodes on one PostgreSQL (:8080, :8090)
  gatehouse config check [--config PATH]               validate a config; every problem with its key path
  gatehouse audit verify [--config PATH | --dir PATH] [--key PEM] [--witness FILE]
                                                       verify the audit chain, signatures and head; --witness: against the SIEM's copy
  gatehouse recordings verify [--config PATH | --dir PATH]
                                                       re-hash every sealed recording against its recorded SHA-256
  gatehouse evidence export [--config PATH | --dir PATH] --from DATE --to DATE --out FILE.zip [--with-recordings]
                                                       write a signed evidence pack for the period [from, to)
  gatehouse evidence verify FILE.zip [--key PEM]       check a pack offline (signature, file hashes, audit chain)
  gatehouse users reset-totp <email> [--user ID] [--config PATH | --dir PATH]
                                                       reset a user's TOTP on a stopped gateway's storage
  gatehouse storage migrate --from-dir PATH --config PATH
                                                       copy a lowdb storage folder into the config's PostgreSQL (offline)
  gatehouse rdp-cert HOST[:PORT] | --target ID [--config PATH]
                                                       print an RDP server's certificate SHA-256 to pin (certSha256)
  gatehouse --version`;

type Command = (argv: string[], io: CliIo) => Promise<number>;

/** The usage entries (a `gatehouse …` line and its indented continuation) whose command starts with `name`. */
export function usageOf(name: string): string | undefined {
  const entries: string[][] = [];
  for (const line of usage.split('\n').slice(2)) {
    if (/^ {2}gatehouse /.test(line)) entries.push([line]);
    else if (/^ {4,}\S/.test(line)) entries.at(-1)?.push(line);
  }
  const hits = entries.filter((e) => `${e[0]!.trim().slice('gatehouse '.length)} `.startsWith(`${name} `));
  return hits.length ? `usage:\n${hits.map((e) => e.join('\n')).join('\n')}` : undefined;
}

/** Why asked anywhere before a `--`: `gatehouse demo --help` must print and stop, never start what it names. */
const asksHelp = (argv: string[]) => {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
};

const commands: Record<string, Command> = {
  serve: runServe,
  demo: runDemo,
  'config check': runConfigCheck,
  'audit verify': runAuditVerify,
  'recordings verify': runRecordingsVerify,
  'evidence export': runEvidenceExport,
  'evidence verify': runEvidenceVerify,
  'users reset-totp': runUsersResetTotp,
  'storage migrate': runStorageMigrate,
  'rdp-cert': runRdpCert,
};

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  if (argv[0] === '--version' || argv[0] === '-V') {
    io.out(version);
    return 0;
  }
  if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
    io.out(usage);
    return argv.length === 0 ? 2 : 0;
  }
  const two = `${argv[0]} ${argv[1] ?? ''}`;
  const [name, rest] = commands[two] ? [two, argv.slice(2)] : [argv[0]!, argv.slice(1)];
  const command = commands[name];
  // `gatehouse config` (a group without its subcommand) answers with the group's usage too, but as an error.
  const help = usageOf(command ? name : argv[0]!);
  if (help && (asksHelp(argv) || !command)) {
    if (asksHelp(argv)) {
      io.out(help);
      return 0;
    }
    io.err(`gatehouse: '${argv[0]}' needs a subcommand\n\n${help}`);
    return 2;
  }
  if (!command) {
    io.err(`gatehouse: unknown command '${argv.slice(0, 2).join(' ')}'\n\n${usage}`);
    return 2;
  }
  try {
    return await command(rest, io);
  } catch (err) {
    io.err(`gatehouse ${name}: ${describeStartupError(err)}`);
    return 1;
  }
}
