// Child of import-crash.test.ts: `vigil db import` as the CLI runs it, with a terminal on stderr
// so that the import reports each committed batch; each report is echoed to stdout as `batch`
// and followed by a pause, so the parent can SIGKILL it between two batches.
import { Readable, Writable } from 'node:stream'
import { main } from '../../src/cli/main.js'

const [dir, ...paths] = process.argv.slice(2)
class Terminal extends Writable {
  isTTY = true
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    if (chunk.toString().includes('records…')) {
      process.stdout.write('batch\n')
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 150)
    }
    done()
  }
}
const sink = new Writable({ write: (_c, _e, done) => done() })
const code = await main(['db', 'import', ...paths, '--data', dir!], { stdout: sink, stderr: new Terminal(), stdin: Readable.from([]), env: {} } as never)
process.stdout.write(`finished ${code}\n`)
