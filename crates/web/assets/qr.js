// QR codes drawn in the browser, for what changes every few seconds on a phone that may be
// offline (a travel pass showing): byte mode, error correction level L, versions 1 to 15
// (up to 520 bytes), as ISO/IEC 18004 lays them out. The switch draws the codes it issues
// itself; this is only for what the phone makes.
"use strict";

const QR = (() => {
  const MAX_VERSION = 15;
  // Level L, by version: error correction codewords per block, and blocks.
  const ECC_PER_BLOCK = [0, 7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22];
  const BLOCKS = [0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6];
  const LEVEL_L = 1; // the two format bits of level L

  /// Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x^2 + 1.
  function gfMultiply(a, b) {
    let product = 0;
    for (let bit = 7; bit >= 0; bit--) {
      product = (product << 1) ^ ((product >>> 7) * 0x11d);
      product ^= ((b >>> bit) & 1) * a;
    }
    return product & 0xff;
  }

  /// The Reed-Solomon generator polynomial of `degree`, highest coefficient (1) left out.
  function generator(degree) {
    const coefficients = new Array(degree).fill(0);
    coefficients[degree - 1] = 1;
    let root = 1;
    for (let i = 0; i < degree; i++) {
      for (let j = 0; j < degree; j++) {
        coefficients[j] = gfMultiply(coefficients[j], root);
        if (j + 1 < degree) coefficients[j] ^= coefficients[j + 1];
      }
      root = gfMultiply(root, 2);
    }
    return coefficients;
  }

  function errorCorrection(data, divisor) {
    const remainder = new Array(divisor.length).fill(0);
    for (const byte of data) {
      const factor = byte ^ remainder.shift();
      remainder.push(0);
      divisor.forEach((coefficient, i) => { remainder[i] ^= gfMultiply(coefficient, factor); });
    }
    return remainder;
  }

  /// Modules that carry data or error correction, in a symbol of `version`.
  function rawDataModules(version) {
    let modules = (16 * version + 128) * version + 64;
    if (version >= 2) {
      const alignments = Math.floor(version / 7) + 2;
      modules -= (25 * alignments - 10) * alignments - 55;
      if (version >= 7) modules -= 36;
    }
    return modules;
  }

  const dataCodewords = (version) =>
    Math.floor(rawDataModules(version) / 8) - ECC_PER_BLOCK[version] * BLOCKS[version];

  function alignmentPositions(version, size) {
    if (version === 1) return [];
    const count = Math.floor(version / 7) + 2;
    const step = Math.ceil((version * 4 + 4) / (count * 2 - 2)) * 2;
    const positions = [6];
    for (let at = size - 7; positions.length < count; at -= step) positions.splice(1, 0, at);
    return positions;
  }

  /// The data codewords: mode, length, the bytes, terminator and padding.
  function codewords(bytes, version) {
    const bits = [];
    const put = (value, length) => { for (let i = length - 1; i >= 0; i--) bits.push((value >>> i) & 1); };
    put(0b0100, 4);
    put(bytes.length, version < 10 ? 8 : 16);
    for (const byte of bytes) put(byte, 8);
    const capacity = dataCodewords(version) * 8;
    put(0, Math.min(4, capacity - bits.length));
    put(0, (8 - (bits.length % 8)) % 8);
    for (let pad = 0xec; bits.length < capacity; pad ^= 0xec ^ 0x11) put(pad, 8);
    const words = [];
    for (let i = 0; i < bits.length; i += 8) words.push(bits.slice(i, i + 8).reduce((w, b) => (w << 1) | b, 0));
    return words;
  }

  /// Splits the data into blocks, adds each block's error correction, and interleaves.
  function interleaved(data, version) {
    const blockCount = BLOCKS[version];
    const eccLength = ECC_PER_BLOCK[version];
    const raw = Math.floor(rawDataModules(version) / 8);
    const shortBlocks = blockCount - (raw % blockCount);
    const shortLength = Math.floor(raw / blockCount);
    const divisor = generator(eccLength);
    const blocks = [];
    for (let i = 0, at = 0; i < blockCount; i++) {
      const length = shortLength - eccLength + (i < shortBlocks ? 0 : 1);
      const block = data.slice(at, at + length);
      at += length;
      const ecc = errorCorrection(block, divisor);
      if (i < shortBlocks) block.push(0); // a gap, skipped below, so the columns line up
      blocks.push(block.concat(ecc));
    }
    const result = [];
    for (let i = 0; i < blocks[0].length; i++) {
      blocks.forEach((block, j) => {
        if (i !== shortLength - eccLength || j >= shortBlocks) result.push(block[i]);
      });
    }
    return result;
  }

  const MASKS = [
    (x, y) => (x + y) % 2 === 0,
    (x, y) => y % 2 === 0,
    (x) => x % 3 === 0,
    (x, y) => (x + y) % 3 === 0,
    (x, y) => (Math.floor(x / 3) + Math.floor(y / 2)) % 2 === 0,
    (x, y) => ((x * y) % 2) + ((x * y) % 3) === 0,
    (x, y) => (((x * y) % 2) + ((x * y) % 3)) % 2 === 0,
    (x, y) => (((x + y) % 2) + ((x * y) % 3)) % 2 === 0,
  ];

  /// The symbol for `version` with everything but the data and format bits drawn.
  function functionPatterns(version) {
    const size = version * 4 + 17;
    const dark = Array.from({ length: size }, () => new Array(size).fill(false));
    const fixed = Array.from({ length: size }, () => new Array(size).fill(false));
    const set = (x, y, isDark) => { dark[y][x] = isDark; fixed[y][x] = true; };
    for (let i = 0; i < size; i++) {
      set(6, i, i % 2 === 0);
      set(i, 6, i % 2 === 0);
    }
    for (const [cx, cy] of [[3, 3], [size - 4, 3], [3, size - 4]]) {
      for (let dy = -4; dy <= 4; dy++) {
        for (let dx = -4; dx <= 4; dx++) {
          const x = cx + dx;
          const y = cy + dy;
          const ring = Math.max(Math.abs(dx), Math.abs(dy));
          if (x >= 0 && x < size && y >= 0 && y < size) set(x, y, ring !== 2 && ring !== 4);
        }
      }
    }
    const positions = alignmentPositions(version, size);
    const last = positions.length - 1;
    positions.forEach((cx, i) => positions.forEach((cy, j) => {
      // Not over the finder patterns.
      if ((i === 0 && j === 0) || (i === 0 && j === last) || (i === last && j === 0)) return;
      for (let dy = -2; dy <= 2; dy++) {
        for (let dx = -2; dx <= 2; dx++) set(cx + dx, cy + dy, Math.max(Math.abs(dx), Math.abs(dy)) !== 1);
      }
    }));
    drawFormat(dark, fixed, 0); // reserves the format areas and the dark module
    if (version >= 7) {
      let remainder = version;
      for (let i = 0; i < 12; i++) remainder = (remainder << 1) ^ ((remainder >>> 11) * 0x1f25);
      const bits = (version << 12) | remainder;
      for (let i = 0; i < 18; i++) {
        const isDark = ((bits >>> i) & 1) === 1;
        const a = size - 11 + (i % 3);
        const b = Math.floor(i / 3);
        set(a, b, isDark);
        set(b, a, isDark);
      }
    }
    return { size, dark, fixed };
  }

  /// The 15 format bits (level L and `mask`, BCH-protected) in both of their places.
  function drawFormat(dark, fixed, mask) {
    const size = dark.length;
    const data = (LEVEL_L << 3) | mask;
    let remainder = data;
    for (let i = 0; i < 10; i++) remainder = (remainder << 1) ^ ((remainder >>> 9) * 0x537);
    const bits = ((data << 10) | remainder) ^ 0x5412;
    const bit = (i) => ((bits >>> i) & 1) === 1;
    const set = (x, y, isDark) => { dark[y][x] = isDark; fixed[y][x] = true; };
    for (let i = 0; i <= 5; i++) set(8, i, bit(i));
    set(8, 7, bit(6));
    set(8, 8, bit(7));
    set(7, 8, bit(8));
    for (let i = 9; i < 15; i++) set(14 - i, 8, bit(i));
    for (let i = 0; i < 8; i++) set(size - 1 - i, 8, bit(i));
    for (let i = 8; i < 15; i++) set(8, size - 15 + i, bit(i));
    set(8, size - 8, true);
  }

  /// Data bits in the zigzag of two-module columns, right to left, skipping the timing column.
  function placeData(symbol, words) {
    const { size, dark, fixed } = symbol;
    let i = 0;
    for (let right = size - 1; right >= 1; right -= 2) {
      if (right === 6) right = 5;
      const upward = ((right + 1) & 2) === 0;
      for (let step = 0; step < size; step++) {
        const y = upward ? size - 1 - step : step;
        for (const x of [right, right - 1]) {
          if (fixed[y][x]) continue;
          dark[y][x] = i < words.length * 8 && ((words[i >>> 3] >>> (7 - (i & 7))) & 1) === 1;
          i++;
        }
      }
    }
  }

  /// The standard's penalty for a masked symbol: long runs, 2x2 blocks, finder look-alikes,
  /// and an unbalanced share of dark modules.
  function penalty(dark) {
    const size = dark.length;
    let score = 0;
    const lines = [];
    for (let i = 0; i < size; i++) {
      lines.push(dark[i]);
      lines.push(dark.map((row) => row[i]));
    }
    const finderLike = [true, false, true, true, true, false, true];
    for (const line of lines) {
      for (let start = 0; start < size;) {
        let end = start;
        while (end < size && line[end] === line[start]) end++;
        if (end - start >= 5) score += 3 + (end - start - 5);
        start = end;
      }
      for (let at = 0; at + 7 <= size; at++) {
        if (!finderLike.every((isDark, k) => line[at + k] === isDark)) continue;
        const lightBefore = at >= 4 && [1, 2, 3, 4].every((k) => !line[at - k]);
        const lightAfter = at + 11 <= size && [7, 8, 9, 10].every((k) => !line[at + k]);
        if (lightBefore || lightAfter) score += 40;
      }
    }
    let darkCount = 0;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        if (dark[y][x]) darkCount++;
        if (x + 1 < size && y + 1 < size) {
          const c = dark[y][x];
          if (dark[y][x + 1] === c && dark[y + 1][x] === c && dark[y + 1][x + 1] === c) score += 3;
        }
      }
    }
    const total = size * size;
    score += (Math.ceil(Math.abs(darkCount * 20 - total * 10) / total) - 1) * 10;
    return score;
  }

  /// The modules of the smallest symbol holding `text` (as UTF-8): rows of booleans, dark true.
  function encode(text) {
    const bytes = Array.from(new TextEncoder().encode(text));
    let version = 1;
    while (version <= MAX_VERSION && 4 + (version < 10 ? 8 : 16) + bytes.length * 8 > dataCodewords(version) * 8) version++;
    if (version > MAX_VERSION) throw new Error("too long for a QR code here");
    const words = interleaved(codewords(bytes, version), version);
    let best = null;
    MASKS.forEach((mask, index) => {
      const symbol = functionPatterns(version);
      placeData(symbol, words);
      for (let y = 0; y < symbol.size; y++) {
        for (let x = 0; x < symbol.size; x++) {
          if (!symbol.fixed[y][x] && mask(x, y)) symbol.dark[y][x] = !symbol.dark[y][x];
        }
      }
      drawFormat(symbol.dark, symbol.fixed, index);
      const score = penalty(symbol.dark);
      if (!best || score < best.score) best = { score, dark: symbol.dark };
    });
    return best.dark;
  }

  /// Draws `text` on `canvas`, `scale` pixels a module, with the standard's 4-module margin.
  function draw(canvas, text, scale = 4) {
    const modules = encode(text);
    const side = (modules.length + 8) * scale;
    canvas.width = side;
    canvas.height = side;
    const context = canvas.getContext("2d");
    context.fillStyle = "#fff";
    context.fillRect(0, 0, side, side);
    context.fillStyle = "#000";
    modules.forEach((row, y) => row.forEach((isDark, x) => {
      if (isDark) context.fillRect((x + 4) * scale, (y + 4) * scale, scale, scale);
    }));
  }

  return { encode, draw };
})();
