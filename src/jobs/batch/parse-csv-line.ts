/**
 * Splits one CSV line into its cells (RFC 4180: cells separated by commas; a cell in double
 * quotes may hold commas and doubled quotes ""). A quoted cell must close on the same line:
 * inferd reads CSV line by line so that a job can stop and resume at any line. Throws an Error
 * saying what is wrong for an unclosed quote or text after a closing quote.
 */
export function parseCsvLine(line: string): string[] {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let cell = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) throw new Error(`a quoted cell (cell ${cells.length + 1}) is not closed on its line`);
        cell += line.slice(i, q);
        if (line[q + 1] === '"') {
          cell += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      if (i < line.length && line[i] !== ',')
        throw new Error(`text after the closing quote of cell ${cells.length + 1}`);
      cells.push(cell);
    } else {
      const comma = line.indexOf(',', i);
      const end = comma < 0 ? line.length : comma;
      cells.push(line.slice(i, end));
      i = end;
    }
    if (i >= line.length) return cells;
    i++; // the comma
  }
}
