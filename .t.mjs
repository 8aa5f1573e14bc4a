import { connect, headers } from '@nats-io/transport-node'
import { jetstream } from '@nats-io/jetstream'
import { unpack } from 'msgpackr'
const nc = await connect({ servers: 'nats://127.0.0.1:14222' })
const js = jetstream(nc)
const sub = nc.subscribe('vigil.results.>')
const h = headers(); h.set('Content-Type', 'application/json')
await js.publish('vigil.jobs.scan', JSON.stringify({ id: 'j1', target: 'oci:/root/.cache/vigil-corpus/distroless-style/oci' }), { headers: h })
await js.publish('vigil.jobs.scan', new Uint8Array([1,2,3,0xc1]))
await js.publish('vigil.jobs.scan', JSON.stringify({ id: 'j2', target: 'oci:/nonexistent' }), { headers: h })
await js.publish('vigil.jobs.scan', JSON.stringify({ id: 'j1', target: 'oci:/root/.cache/vigil-corpus/distroless-style/oci' }), { headers: h })
await js.publish('vigil.jobs.scan', JSON.stringify({ id: 'j3', target: 'oci:/root/.cache/vigil-corpus/distroless-style/oci' }), { headers: h })
const t = setTimeout(() => sub.unsubscribe(), 8000)
for await (const m of sub) {
  const ct = m.headers?.get('Content-Type')
  const v = ct === 'application/json' ? JSON.parse(m.string()) : unpack(m.data)
  console.log(m.subject, m.headers?.get('Vigil-Job-Id'), JSON.stringify({ ...v, findings: v.findings?.length }).slice(0, 400))
}
await nc.close()
