// A storage fault cleared by a writer's own success (db.json's store clears it when a write works) is recorded as
// storage.recovered by the monitor's next round, as one the monitor cleared itself is; a record the audit log refuses
// is tried again, never dropped.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../gateway/log.js';
import { StorageMonitor } from '../../gateway/storage/monitor.js';
import { StorageFaults } from '../../gateway/storage-faults.js';

const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

function monitorWith(appendFails = 0) {
  const faults = new StorageFaults();
  const recorded: Array<{ type: string; data: unknown }> = [];
  let refuse = appendFails;
  let recoveredCalls = 0;
  const audit = {
    append: async (e: { type: string; data: unknown }) => {
      if (refuse-- > 0) throw enospc();
      recorded.push({ type: e.type, data: e.data });
      return e;
    },
  };
  const monitor = new StorageMonitor({
    audit: audit as never,
    faults,
    logger: silentLogger,
    storageDir: '/nonexistent-gatehouse-test',
    onRecovered: async () => void recoveredCalls++,
  });
  return { faults, monitor, recorded, recoveredCalls: () => recoveredCalls };
}

describe('StorageMonitor', () => {
  it('records a fault the writer cleared itself before the round looked', async () => {
    const m = monitorWith();
    m.faults.report('/var/lib/gatehouse/db.json', enospc());
    m.faults.clear('/var/lib/gatehouse/db.json'); // the store's next write worked
    expect(m.faults.ok).toBe(true);
    await m.monitor.check();
    expect(m.recorded).toEqual([
      { type: 'storage.recovered', data: expect.objectContaining({ file: 'db.json', code: 'ENOSPC' }) },
    ]);
    expect(m.recoveredCalls()).toBe(1);
    await m.monitor.check(); // once
    expect(m.recorded).toHaveLength(1);
  });

  it('a recovery the audit log refuses is recorded on a later round, not lost', async () => {
    const m = monitorWith(1);
    m.faults.report('db.json', enospc());
    m.faults.clear('db.json');
    await m.monitor.check();
    expect(m.recorded).toEqual([]);
    await m.monitor.check();
    expect(m.recorded.map((r) => r.type)).toEqual(['storage.recovered']);
  });

  it('nothing cleared, nothing recorded', async () => {
    const m = monitorWith();
    await m.monitor.check();
    m.faults.clear('db.json'); // no fault: not a recovery
    await m.monitor.check();
    expect(m.recorded).toEqual([]);
    expect(m.recoveredCalls()).toBe(0);
  });
});
