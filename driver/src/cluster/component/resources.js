import { Readable } from 'node:stream';
// Every record gets a blob of BLOB_BYTES bytes, well over the 8 KiB that
// Harper keeps inside the record, so the blob is written to a file.
export const BLOB_BYTES = 50 * 1024;
class LargeSource extends Resource {
  async get() {
    const id = this.getId();
    return { id, name: 'loc' + id, image: createBlob(Readable.from([Buffer.alloc(BLOB_BYTES, 1)])) };
  }
}
tables.LargeLocation.sourcedFrom(LargeSource);
