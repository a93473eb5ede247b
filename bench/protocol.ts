// The MQTT version the load generator speaks (--protocol 4|5, default 4 = MQTT 3.1.1). The
// harness sets it once; its generator processes inherit it through their environment, so
// no job description has to carry it.
export type BenchProtocol = 4 | 5

// Not SWALLOW_*: the brokers the harness starts inherit the environment too, and reject unknown SWALLOW_ variables.
const ENV = 'BENCH_MQTT_PROTOCOL'

export function setBenchProtocol (protocol: BenchProtocol): void {
  process.env[ENV] = String(protocol)
}

export function benchProtocol (): BenchProtocol {
  return process.env[ENV] === '5' ? 5 : 4
}
