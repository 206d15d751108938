import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { migrations } from './index';
import recorded from './checksums.json';

/**
 * An applied migration is never edited: its checksum is recorded when it is written, and a changed
 * file fails here. A new migration adds its own line to checksums.json (and to index.ts).
 */
describe('migrations are forward-only', () => {
  const files = readdirSync(__dirname)
    .filter((f) => /^\d+-.*\.ts$/.test(f))
    .sort();

  it('every migration file still has the content it was recorded with', () => {
    const actual = Object.fromEntries(
      files.map((f) => [
        f,
        createHash('sha256')
          .update(readFileSync(join(__dirname, f)))
          .digest('hex'),
      ]),
    );
    expect(actual).toEqual(recorded);
  });

  it('index.ts lists every migration file, in timestamp order', () => {
    const timestamps = files.map((f) => f.split('-')[0]);
    expect(migrations.map((m) => m.name.replace(/^\D+/, ''))).toEqual(timestamps);
  });
});
