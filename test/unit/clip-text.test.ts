import { expect } from 'chai';
import { clipText, MAX_QUOTED_CHARS } from '../../src/clip-text';

describe('clipText', () => {
  it('quotes text of up to MAX_QUOTED_CHARS characters whole', () => {
    expect(clipText('simple')).to.equal('simple');
    expect(clipText('m'.repeat(MAX_QUOTED_CHARS))).to.equal('m'.repeat(MAX_QUOTED_CHARS));
  });

  it('cuts longer text after MAX_QUOTED_CHARS characters, with an ellipsis', () => {
    expect(clipText('m'.repeat(MAX_QUOTED_CHARS + 1))).to.equal(`${'m'.repeat(MAX_QUOTED_CHARS)}…`);
    expect(clipText('abcdef', 3)).to.equal('abc…');
  });

  it('never splits a surrogate pair', () => {
    expect(clipText('ab😀cd', 3)).to.equal('ab…');
    expect(clipText('ab😀cd', 4)).to.equal('ab😀…');
  });
});
