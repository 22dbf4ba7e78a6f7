import { expect } from 'chai';
import { memoryReducerOn } from '../../src/node-flags';

describe('memoryReducerOn', () => {
  it("reads V8's memory reducer flag from node's flags as V8 does: the last one given wins, - and _ alike", () => {
    expect(memoryReducerOn([])).to.equal(true);
    expect(memoryReducerOn(['--no-memory-reducer'])).to.equal(false);
    expect(memoryReducerOn(['--no_memory_reducer'])).to.equal(false);
    expect(memoryReducerOn(['--nomemory-reducer'])).to.equal(false);
    expect(memoryReducerOn(['--no-memory-reducer', '--memory-reducer'])).to.equal(true);
    expect(memoryReducerOn(['--memory-reducer', '--no-memory-reducer'])).to.equal(false);
    expect(memoryReducerOn(['--no-memory-reducer-for-small-heaps'])).to.equal(true);
  });
});
