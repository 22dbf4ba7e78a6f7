import { expect } from 'chai';
import { fromFloat16Bits, toFloat16Bits } from '../../../src/tensor/float16';

describe('float16 conversion', () => {
  const exact: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff],
    [2 ** -14, 0x0400],
    [2 ** -24, 0x0001],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
  ];
  for (const [value, bits] of exact) {
    it(`encodes ${Object.is(value, -0) ? '-0' : value} as 0x${bits.toString(16)} and back`, () => {
      expect(toFloat16Bits(value)).to.equal(bits);
      expect(Object.is(fromFloat16Bits(bits), value)).to.equal(true);
    });
  }

  it('rounds to the nearest half, ties to even', () => {
    expect(toFloat16Bits(1 + 2 ** -11)).to.equal(0x3c00); // halfway between 1 and the next half: stays even
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).to.equal(0x3c02); // halfway, rounds up to even
    expect(toFloat16Bits(0.1)).to.equal(0x2e66);
  });

  it('overflows to infinity past the largest half and underflows to zero below the smallest', () => {
    expect(toFloat16Bits(65520)).to.equal(0x7c00);
    expect(toFloat16Bits(2 ** -26)).to.equal(0x0000);
    expect(toFloat16Bits(-(2 ** -26))).to.equal(0x8000);
  });

  it('keeps NaN a NaN', () => {
    expect(Number.isNaN(fromFloat16Bits(toFloat16Bits(NaN)))).to.equal(true);
  });

  it('round-trips every finite half exactly', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const exp = (bits >>> 10) & 0x1f;
      if (exp === 0x1f) continue;
      expect(toFloat16Bits(fromFloat16Bits(bits))).to.equal(bits);
    }
  });
});
