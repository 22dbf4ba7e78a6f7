import { expect } from 'chai';
import type { VersionPolicy } from '../../../src/repository/model-config';
import { afterFailedLoad, plan, selectVersions, type Action, type DiskModel, type HeldVersion, type ModelControl } from '../../../src/repository/plan';

const NOT_PICKED = 'not served: the version policy does not pick it';

/** A model folder: [version, files, problem?] newest first, and the config's policy (or why it is invalid). */
function disk(versions: readonly (readonly [string, string, string?])[], policy: VersionPolicy | { invalid: string } = { latest: 1 }): DiskModel {
  return { versions: versions.map(([version, files, problem]) => ({ version, files, ...(problem === undefined ? {} : { problem }) })), policy };
}

const ready = (version: string, files: string, reason = ''): HeldVersion => ({ version, state: 'READY', reason, servingFiles: files });
const idle = (version: string, reason = NOT_PICKED): HeldVersion => ({ version, state: 'UNAVAILABLE', reason });
const failed = (version: string, files: string, reason: string): HeldVersion => ({ version, state: 'FAILED', reason, failure: { files, reason } });

/**
 * Applies plans the way the repository does (a load ends READY or as afterFailedLoad says),
 * until a plan is empty. `failing` names the versions whose loads fail, with the reason.
 */
function settle(onDisk: DiskModel | undefined, start: readonly HeldVersion[], options: { control?: ModelControl; failing?: Record<string, string> } = {}): { rounds: Action[][]; held: HeldVersion[] } {
  const held = new Map(start.map((h) => [h.version, h]));
  const rounds: Action[][] = [];
  for (;;) {
    const actions = plan({ onDisk, held: [...held.values()], control: options.control ?? 'serve' });
    if (actions.length === 0) return { rounds, held: [...held.values()] };
    rounds.push(actions);
    if (rounds.length > 5) throw new Error(`no settling: ${JSON.stringify(rounds)}`);
    for (const a of actions) {
      const h = a.kind === 'remove-model' ? undefined : held.get(a.version);
      switch (a.kind) {
        case 'mark':
          held.set(a.version, { ...(h ?? { version: a.version }), state: a.state, reason: a.reason });
          break;
        case 'load': {
          const why = options.failing?.[a.version];
          if (why === undefined) held.set(a.version, { version: a.version, state: 'READY', reason: '', servingFiles: a.files });
          else held.set(a.version, { ...(h ?? { version: a.version }), ...afterFailedLoad(h?.servingFiles !== undefined, why), failure: { files: a.files, reason: why } });
          break;
        }
        case 'retire':
          held.set(a.version, { version: a.version, state: 'UNAVAILABLE', reason: a.reason, failure: h!.failure });
          break;
        case 'remove':
          held.delete(a.version);
          break;
        case 'remove-model':
          held.clear();
          return { rounds, held: [] };
      }
    }
  }
}

describe('selectVersions', () => {
  const onDisk = ['5', '3', '2', '1'];
  it('picks the newest N under latest', () => expect(selectVersions({ latest: 2 }, onDisk)).to.deep.equal(['5', '3']));
  it('picks every version under all', () => expect(selectVersions({ all: true }, onDisk)).to.deep.equal(onDisk));
  it('picks the named versions that exist under specific, newest first', () => expect(selectVersions({ specific: ['1', '4', '5'] }, onDisk)).to.deep.equal(['5', '1']));
});

describe('plan', () => {
  describe('a model seen for the first time', () => {
    it('loads the newest version and marks the others as not picked', () => {
      expect(plan({ onDisk: disk([['3', 'c'], ['2', 'b'], ['1', 'a']]), held: [], control: 'serve' })).to.deep.equal([
        { kind: 'load', version: '3', files: 'c' },
        { kind: 'mark', version: '2', state: 'UNAVAILABLE', reason: NOT_PICKED },
        { kind: 'mark', version: '1', state: 'UNAVAILABLE', reason: NOT_PICKED },
      ]);
    });

    it('loads every version under all, and the named ones under specific', () => {
      expect(plan({ onDisk: disk([['2', 'b'], ['1', 'a']], { all: true }), held: [], control: 'serve' }).map((a) => a.kind)).to.deep.equal(['load', 'load']);
      expect(plan({ onDisk: disk([['3', 'c'], ['2', 'b'], ['1', 'a']], { specific: ['1', '3'] }), held: [], control: 'serve' })).to.deep.equal([
        { kind: 'load', version: '3', files: 'c' },
        { kind: 'mark', version: '2', state: 'UNAVAILABLE', reason: NOT_PICKED },
        { kind: 'load', version: '1', files: 'a' },
      ]);
    });

    it('fails a picked version whose folder cannot be loaded as it is, with the folder\'s problem, loading nothing', () => {
      expect(plan({ onDisk: disk([['2', 'b', 'no model.onnx in m/2'], ['1', 'a']], { all: true }), held: [], control: 'serve' })).to.deep.equal([
        { kind: 'mark', version: '2', state: 'FAILED', reason: 'no model.onnx in m/2' },
        { kind: 'load', version: '1', files: 'a' },
      ]);
    });
  });

  describe('a model that serves', () => {
    it('plans nothing when every picked version serves the files on disk', () => {
      expect(plan({ onDisk: disk([['2', 'b'], ['1', 'a']]), held: [ready('2', 'b'), idle('1')], control: 'serve' })).to.deep.equal([]);
    });

    it('reloads a serving version whose files changed, and retires nothing while it loads', () => {
      expect(plan({ onDisk: disk([['2', 'b2'], ['1', 'a']], { latest: 1 }), held: [ready('2', 'b'), ready('1', 'a')], control: 'serve' })).to.deep.equal([
        { kind: 'load', version: '2', files: 'b2' },
      ]);
    });

    it('retires a version the policy no longer picks once a picked one serves', () => {
      expect(plan({ onDisk: disk([['2', 'b'], ['1', 'a']]), held: [ready('2', 'b'), ready('1', 'a')], control: 'serve' })).to.deep.equal([
        { kind: 'retire', version: '1', reason: NOT_PICKED },
      ]);
    });

    it('keeps a version the policy no longer picks serving while no picked one can, and says why', () => {
      expect(plan({ onDisk: disk([['2', 'b'], ['1', 'a']]), held: [failed('2', 'b', 'cannot load m/2/model.onnx: corrupt'), ready('1', 'a')], control: 'serve' })).to.deep.equal([
        { kind: 'mark', version: '1', state: 'READY', reason: 'still serving: no version the policy picks could be loaded' },
      ]);
    });

    it('does not load again files that failed, until they change', () => {
      const held = [failed('2', 'b', 'corrupt')];
      expect(plan({ onDisk: disk([['2', 'b']]), held, control: 'serve' })).to.deep.equal([]);
      expect(plan({ onDisk: disk([['2', 'b2']]), held, control: 'serve' })).to.deep.equal([{ kind: 'load', version: '2', files: 'b2' }]);
    });

    it('says a serving version still serves its earlier file when newer files of it failed', () => {
      const held: HeldVersion = { ...ready('2', 'b'), failure: { files: 'b2', reason: 'corrupt' } };
      expect(plan({ onDisk: disk([['2', 'b2']]), held: [held], control: 'serve' })).to.deep.equal([
        { kind: 'mark', version: '2', state: 'READY', reason: 'still serving the earlier file: corrupt' },
      ]);
      // Its files put back as they were: the note goes.
      expect(plan({ onDisk: disk([['2', 'b']]), held: [{ ...held, reason: 'still serving the earlier file: corrupt' }], control: 'serve' })).to.deep.equal([
        { kind: 'mark', version: '2', state: 'READY', reason: '' },
      ]);
    });

    it('keeps serving a version whose folder turned unusable (its model file gone), and fails it when nothing serves', () => {
      expect(plan({ onDisk: disk([['2', '#c', 'no model.onnx in m/2']]), held: [ready('2', 'b#c')], control: 'serve' })).to.deep.equal([]);
      expect(plan({ onDisk: disk([['2', '#c', 'no model.onnx in m/2']]), held: [idle('2')], control: 'serve' })).to.deep.equal([
        { kind: 'mark', version: '2', state: 'FAILED', reason: 'no model.onnx in m/2' },
      ]);
    });
  });

  describe('files that go', () => {
    it('removes a version whose folder is gone at once, even while another loads', () => {
      expect(plan({ onDisk: disk([['3', 'c']]), held: [ready('2', 'b'), idle('1')], control: 'serve' })).to.deep.equal([
        { kind: 'remove', version: '2' },
        { kind: 'remove', version: '1' },
        { kind: 'load', version: '3', files: 'c' },
      ]);
    });

    it('removes the model when its folder is gone', () => {
      expect(plan({ onDisk: undefined, held: [ready('1', 'a')], control: 'serve' })).to.deep.equal([{ kind: 'remove-model' }]);
    });

    it('retires the serving version when a specific policy names only versions that are not there', () => {
      expect(plan({ onDisk: disk([['2', 'b']], { specific: ['7'] }), held: [ready('2', 'b')], control: 'serve' })).to.deep.equal([
        { kind: 'retire', version: '2', reason: NOT_PICKED },
      ]);
    });
  });

  describe('a config file that cannot be used', () => {
    it('keeps what serves serving, saying why, fails the rest with the reason and loads nothing', () => {
      const invalid = 'm/config.yaml: instances: expected a whole number from 1 to 256, got 0';
      expect(plan({ onDisk: disk([['3', 'c'], ['2', 'b'], ['1', 'a']], { invalid }), held: [ready('2', 'b'), idle('1'), idle('0')], control: 'serve' })).to.deep.equal([
        { kind: 'remove', version: '0' },
        { kind: 'mark', version: '3', state: 'FAILED', reason: invalid },
        { kind: 'mark', version: '2', state: 'READY', reason: `still serving: ${invalid}` },
        { kind: 'mark', version: '1', state: 'FAILED', reason: invalid },
      ]);
    });
  });

  describe('explicit control', () => {
    it('retires every serving version of a model unloaded by request, and loads nothing', () => {
      expect(plan({ onDisk: disk([['3', 'c'], ['2', 'b'], ['1', 'a']], { all: true }), held: [ready('2', 'b'), ready('1', 'a')], control: 'unloaded' })).to.deep.equal([
        { kind: 'mark', version: '3', state: 'UNAVAILABLE', reason: 'unloaded by request' },
        { kind: 'retire', version: '2', reason: 'unloaded by request' },
        { kind: 'retire', version: '1', reason: 'unloaded by request' },
      ]);
    });
  });

  it('marks a version only when its state or reason changes', () => {
    expect(plan({ onDisk: disk([['2', 'b'], ['1', 'a']]), held: [ready('2', 'b'), idle('1', 'something else')], control: 'serve' })).to.deep.equal([
      { kind: 'mark', version: '1', state: 'UNAVAILABLE', reason: NOT_PICKED },
    ]);
  });

  describe('applied until nothing is left to do (a new version dropped in while version 1 serves)', () => {
    const onDisk = disk([['2', 'b'], ['1', 'a']]);

    it('loads version 2, then retires version 1: two rounds', () => {
      const { rounds, held } = settle(onDisk, [ready('1', 'a')]);
      expect(rounds).to.deep.equal([[{ kind: 'load', version: '2', files: 'b' }], [{ kind: 'retire', version: '1', reason: NOT_PICKED }]]);
      expect(held.map((h) => [h.version, h.state, h.reason])).to.deep.equal([['1', 'UNAVAILABLE', NOT_PICKED], ['2', 'READY', '']]);
    });

    it('keeps version 1 serving when version 2 fails, and settles: a rescan plans nothing', () => {
      const { rounds, held } = settle(onDisk, [ready('1', 'a')], { failing: { '2': 'corrupt' } });
      expect(rounds).to.deep.equal([
        [{ kind: 'load', version: '2', files: 'b' }],
        [{ kind: 'mark', version: '1', state: 'READY', reason: 'still serving: no version the policy picks could be loaded' }],
      ]);
      expect(held.map((h) => [h.version, h.state, h.reason])).to.deep.equal([
        ['1', 'READY', 'still serving: no version the policy picks could be loaded'],
        ['2', 'FAILED', 'corrupt'],
      ]);
      expect(plan({ onDisk, held, control: 'serve' })).to.deep.equal([]);
    });

    it('settles in at most three rounds, whatever loads and fails', () => {
      const starts: HeldVersion[][] = [[], [ready('1', 'a')], [ready('2', 'old'), ready('1', 'a')], [failed('2', 'b', 'x'), idle('1')], [ready('3', 'gone')]];
      for (const start of starts) {
        for (const failing of [{}, { '2': 'bad' }, { '1': 'bad', '2': 'bad' }] as Record<string, string>[]) {
          for (const policy of [{ latest: 1 }, { all: true as const }, { specific: ['1'] }]) {
            for (const control of ['serve', 'unloaded'] as const) {
              const { rounds } = settle(disk([['2', 'b'], ['1', 'a']], policy), start, { failing, control });
              expect(rounds.length, JSON.stringify({ start, failing, policy, control })).to.be.at.most(3);
            }
          }
        }
      }
    });
  });
});
