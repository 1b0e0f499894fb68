// `gatehouse config check [--config PATH]`: validate a config, print every problem with its key path.
import { auditFileWarnings, ConfigError, formatProblems, loadConfig, unresolvedSecrets } from '../config.js';
import { type CliIo, parseArgs } from './io.js';

const usage = 'usage: gatehouse config check [--config PATH]   (default config/gatehouse.yaml)';

export interface ConfigCheckOptions {
  /** Environment the secret refs are checked against (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Folder relative paths in the config resolve against (default process.cwd()). */
  cwd?: string;
}

/** `argv` is what follows `config check`. Exit 0 valid, 1 invalid or unreadable, 2 usage error. */
export async function runConfigCheck(argv: string[], io: CliIo, opts: ConfigCheckOptions = {}): Promise<number> {
  const { flags, words } = parseArgs(argv);
  if (flags.has('help')) {
    io.out(usage);
    return 0;
  }
  const given = flags.get('config');
  const unexpected = usageProblem([...flags.keys()], words, given);
  if (unexpected) {
    io.err(`gatehouse config check: ${unexpected}`);
    io.err(usage);
    return 2;
  }
  const file = typeof given === 'string' ? given : 'config/gatehouse.yaml';

  let config: Awaited<ReturnType<typeof loadConfig>>;
  try {
    // Secrets are checked below as warnings: the check often runs where the secrets are not (CI, a laptop).
    config = await loadConfig(file, { env: opts.env, cwd: opts.cwd, resolveSecrets: false });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const missing = err.problems.length === 1 && err.problems[0]!.path === '(file)';
    if (missing) {
      io.err(`error: ${err.problems[0]!.message}`);
      io.err('start from config/gatehouse.example.yaml, or name a file with --config PATH');
    } else {
      const n = err.problems.length;
      io.err(`${file}: ${n} problem${n === 1 ? '' : 's'}`);
      io.err(formatProblems(err.problems));
    }
    return 1;
  }

  const warnings = [
    ...unresolvedSecrets(config, { env: opts.env ?? process.env, cwd: opts.cwd }),
    ...auditFileWarnings(config),
  ];
  for (const w of warnings) io.err(`warning: ${w.path}: ${w.message}`);
  const n = config.targets.length;
  io.out(`OK: ${n} target${n === 1 ? '' : 's'}, site "${config.site.name}" (${config.site.timezone}) — ${file}`);
  return 0;
}

function usageProblem(flagNames: string[], words: string[], given: string | true | undefined): string | undefined {
  const unknown = flagNames.find((k) => k !== 'config');
  if (unknown) return `unknown option --${unknown}`;
  if (words.length > 0) return `unexpected argument '${words[0]}'`;
  if (given === true) return '--config needs a path';
  return undefined;
}
