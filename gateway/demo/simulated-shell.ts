// The demo target's shell: a pretend PLC engineering workstation. Nothing here touches a real PLC or
// runs a real command; every answer is canned text, and the banner says so.

export const SIM_USER = 'maint';
export const SIM_HOST = 'plc-ws-sim';
export const PROMPT = `${SIM_USER}@${SIM_HOST}:~$ `;

export const BANNER = [
  '*** SIMULATION — Gatehouse demo target, not a real workstation ***',
  'Simulated Siemens TIA Portal engineering workstation for PLC "Line1-CPU" (S7-1500).',
  'Nothing you type here reaches a real PLC. Type "help" for the commands.',
];

const FILES: Record<string, string[]> = {
  'project.txt': [
    'TIA Portal project: Line1_Packaging (V18) — SIMULATED',
    '  Device:   PLC_1  CPU 1516-3 PN/DP  (6ES7 516-3AN02-0AB0), firmware V2.9',
    '  Network:  PROFINET IO-System 100, 12 devices, IP 192.168.0.10 (simulated)',
    '  Blocks:   OB1 Main, OB35 Cyclic, FB10 Conveyor, FB20 Labeler, DB100 Recipes',
    '  Last download: 2025-03-14 09:12 by maint',
  ],
  'README.sim': ['This workstation is a simulation provided by `gatehouse demo`.'],
};
const DIRS = ['backups/', 'exports/'];

export interface CommandResult {
  lines: string[];
  code: number;
  exit?: boolean;
}

/** Runs one command line; `startedAt` feeds `uptime`. */
export function runCommand(line: string, startedAt: number, now = Date.now()): CommandResult {
  const words = line.trim().split(/\s+/).filter(Boolean);
  const [cmd, ...args] = words;
  const ok = (...lines: string[]): CommandResult => ({ lines, code: 0 });
  switch (cmd) {
    case undefined:
      return ok();
    case 'help':
      return ok(
        'Commands (simulated):',
        '  ls, cat project.txt, whoami, hostname, date, uptime, echo TEXT',
        '  plc status     show the simulated CPU state',
        '  plc download   download the project to the simulated CPU',
        '  plc stop       put the simulated CPU into STOP',
        '  exit',
      );
    case 'ls':
      return ok([...DIRS, ...Object.keys(FILES)].join('  '));
    case 'cat': {
      if (args.length === 0) return { lines: ['cat: missing file operand'], code: 1 };
      const out: string[] = [];
      let code = 0;
      for (const a of args) {
        const f = FILES[a];
        if (f) out.push(...f);
        else {
          out.push(`cat: ${a}: No such file or directory`);
          code = 1;
        }
      }
      return { lines: out, code };
    }
    case 'plc':
      return plc(args[0]);
    case 'whoami':
      return ok(SIM_USER);
    case 'hostname':
      return ok(SIM_HOST);
    case 'date':
      return ok(new Date(now).toUTCString());
    case 'uptime': {
      const mins = Math.floor((now - startedAt) / 60_000);
      return ok(`up ${Math.floor(mins / 60)}:${String(mins % 60).padStart(2, '0')}, 1 user (simulated)`);
    }
    case 'echo':
      return ok(line.trim().replace(/^echo\s?/, ''));
    case 'exit':
    case 'logout':
      return { lines: [], code: 0, exit: true };
    default:
      return { lines: [`sim: command not found: ${cmd}`], code: 127 };
  }
}

function plc(sub: string | undefined): CommandResult {
  switch (sub) {
    case 'status':
      return {
        lines: [
          'PLC_1  CPU 1516-3 PN/DP  mode: RUN  (simulated)',
          '  cycle time 4 ms (min 3, max 7), no diagnostic alarms',
        ],
        code: 0,
      };
    case 'download':
      return {
        lines: [
          'Compiling Line1_Packaging ... 0 errors, 0 warnings (simulated)',
          'Downloading to PLC_1 ... done. CPU stays in RUN. (simulated — nothing was sent)',
        ],
        code: 0,
      };
    case 'stop':
      return { lines: ['PLC_1 is now in STOP (simulated — no real CPU was stopped)'], code: 0 };
    default:
      return { lines: ['usage: plc status | plc download | plc stop'], code: 2 };
  }
}

/**
 * A line editor good enough for the gateway's command capture: echoes printable characters, backspace
 * erases, Enter runs the line, Ctrl-C drops it, Ctrl-D on an empty line exits; escape sequences
 * (arrows, function keys) and other control characters are ignored.
 */
export class SimulatedShell {
  private line = '';
  private escape: 'none' | 'esc' | 'csi' | 'ss3' = 'none';
  private closed = false;
  private exitCode: number | undefined;
  private afterCr = false;

  constructor(
    private write: (text: string) => void,
    private readonly exit: (code: number) => void,
    private readonly startedAt: number,
  ) {}

  start(): void {
    this.write(`${BANNER.join('\r\n')}\r\n\r\n${PROMPT}`);
  }

  input(data: Buffer | string): void {
    // Why buffered: like a tty, the echo of one chunk of input goes out as one write, not a packet per key.
    const write = this.write;
    let out = '';
    this.write = (text) => void (out += text);
    try {
      for (const ch of typeof data === 'string' ? data : data.toString('utf8')) {
        if (this.closed) break;
        this.char(ch);
      }
    } finally {
      this.write = write;
      if (out) write(out);
      // Exit only after the chunk's output (the "logout" line) went out: ending the channel first drops it.
      const code = this.exitCode;
      this.exitCode = undefined;
      if (code !== undefined) this.exit(code);
    }
  }

  private char(ch: string): void {
    const code = ch.codePointAt(0)!;
    // "\r\n" from a client is one Enter, not two.
    const afterCr = this.afterCr;
    this.afterCr = ch === '\r';
    if (ch === '\n' && afterCr) return;
    if (this.escape === 'esc') {
      this.escape = ch === '[' ? 'csi' : ch === 'O' ? 'ss3' : 'none';
      return;
    }
    if (this.escape === 'csi') {
      if (code >= 0x40 && code <= 0x7e) this.escape = 'none';
      return;
    }
    if (this.escape === 'ss3') {
      this.escape = 'none';
      return;
    }
    if (ch === '\x1b') this.escape = 'esc';
    else if (ch === '\r' || ch === '\n') this.enter();
    else if (ch === '\x7f' || ch === '\b') {
      if (this.line.length > 0) {
        this.line = [...this.line].slice(0, -1).join('');
        this.write('\b \b');
      }
    } else if (ch === '\x03') {
      this.line = '';
      this.write(`^C\r\n${PROMPT}`);
    } else if (ch === '\x04') {
      if (this.line === '') this.finish(0);
    } else if (code >= 0x20 && this.line.length < 4096) {
      this.line += ch;
      this.write(ch);
    }
  }

  private enter(): void {
    const line = this.line;
    this.line = '';
    this.write('\r\n');
    const r = runCommand(line, this.startedAt);
    if (r.exit) return this.finish(0);
    this.write(r.lines.map((l) => `${l}\r\n`).join('') + PROMPT);
  }

  private finish(code: number): void {
    if (this.closed) return;
    this.closed = true;
    this.write('logout\r\n');
    this.exitCode = code;
  }
}
