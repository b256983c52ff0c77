import { parseCpuQuantity, parseMemoryQuantity } from './quantities';

const Ki = 1024;
const Mi = 1024 ** 2;
const Gi = 1024 ** 3;
const Ti = 1024 ** 4;
const Pi = 1024 ** 5;

describe('parseMemoryQuantity', () => {
  it.each<[unknown, number]>([
    ['16Gi', 16 * Gi],
    ['64Gi', 64 * Gi],
    ['64GiB', 64 * Gi],
    ['64gib', 64 * Gi],
    ['64GI', 64 * Gi],
    ['32GB', 32e9],
    ['32gb', 32e9],
    ['8G', 8e9],
    ['8 G', 8e9],
    ['  8Gi  ', 8 * Gi],
    ['512Mi', 512 * Mi],
    ['512M', 512e6],
    ['4Ki', 4 * Ki],
    ['2k', 2000],
    ['2K', 2000],
    ['1Ti', Ti],
    ['1T', 1e12],
    ['1Pi', Pi],
    ['1.5Gi', 1.5 * Gi],
    ['.5Gi', 0.5 * Gi],
    ['1024', 1024],
    ['1024B', 1024],
    ['1024b', 1024],
    ['0', 0],
    ['1.4', 1],
    [1024, 1024],
    [0, 0],
    [1.6, 2],
    [17179869184, 16 * Gi],
  ])('%j -> %d bytes', (input, bytes) => {
    expect(parseMemoryQuantity(input)).toBe(bytes);
  });

  it.each<[unknown]>([
    ['lots'],
    [''],
    ['   '],
    ['Gi'],
    ['16i'],
    ['16iB'],
    ['16Xi'],
    ['16 Gi B'],
    ['-1Gi'],
    ['1e9'],
    ['1,5Gi'],
    ['16Gi16'],
    ['99999Pi'],
    [-1],
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
    [1e30],
    [true],
    [null],
    [undefined],
    [{ amount: 16 }],
    [['16Gi']],
  ])('%j does not parse', (input) => {
    expect(parseMemoryQuantity(input)).toBeNull();
  });
});

describe('parseCpuQuantity', () => {
  it.each<[unknown, number]>([
    ['8', 8],
    [' 8 ', 8],
    ['0.5', 0.5],
    ['.5', 0.5],
    ['500m', 0.5],
    ['1500M', 1.5],
    ['0', 0],
    [8, 8],
    [0.25, 0.25],
    [0, 0],
  ])('%j -> %d cores', (input, cores) => {
    expect(parseCpuQuantity(input)).toBe(cores);
  });

  it.each<[unknown]>([['eight'], [''], ['-1'], ['8 cores'], ['8k'], ['m'], [-1], [Number.NaN], [Number.POSITIVE_INFINITY], [false], [null], [undefined], [{ cores: 8 }]])(
    '%j does not parse',
    (input) => {
      expect(parseCpuQuantity(input)).toBeNull();
    },
  );
});
