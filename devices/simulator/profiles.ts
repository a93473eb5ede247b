// Telemetry generators: each device owns one, seeded by its index so a fleet is
// reproducible. Values drift like real sensors (mean-reverting random walks, slow trends)
// instead of jumping to a fresh random number every reading.

export const PROFILE_NAMES = ['climate', 'gps', 'meter'] as const
export type ProfileName = typeof PROFILE_NAMES[number]

export interface Profile {
  readonly name: ProfileName
  /** The next reading; `dtMs` is the time since the previous one. */
  next: (dtMs: number) => Record<string, number>
}

/** mulberry32: a tiny, fast seeded PRNG (Math.random cannot be seeded). */
export function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Approximately normal noise (sum of uniforms), mean 0, sd about 1. */
function noise (rand: () => number): number {
  return (rand() + rand() + rand() + rand() - 2) * 1.73
}

/** One step of a mean-reverting walk, clamped to [min, max]. */
function drift (x: number, mean: number, pull: number, sd: number, min: number, max: number, rand: () => number): number {
  const v = x + pull * (mean - x) + sd * noise(rand)
  return Math.min(max, Math.max(min, v))
}

const round = (v: number, digits: number): number => {
  const f = 10 ** digits
  return Math.round(v * f) / f
}

function climate (rand: () => number): Profile {
  const home = 18 + rand() * 6
  let temperature = home
  let humidity = 35 + rand() * 25
  let pressure = 1000 + rand() * 25
  let battery = 60 + rand() * 40
  return {
    name: 'climate',
    next (dtMs) {
      temperature = drift(temperature, home, 0.05, 0.08, -20, 50, rand)
      humidity = drift(humidity, 45, 0.02, 0.3, 5, 95, rand)
      pressure = drift(pressure, 1013, 0.01, 0.05, 950, 1050, rand)
      // About 1% per simulated hour, so a long run shows batteries going down.
      battery = Math.max(0, battery - dtMs / 360_000_000 * (0.5 + rand()))
      return { temperature: round(temperature, 2), humidity: round(humidity, 1), pressure: round(pressure, 1), battery: round(battery, 2) }
    }
  }
}

function gps (rand: () => number): Profile {
  // Start somewhere around central Europe and drive around.
  let lat = 45 + rand() * 8
  let lon = 2 + rand() * 15
  let heading = rand() * 360
  let speed = 20 + rand() * 60
  let altitude = 100 + rand() * 400
  return {
    name: 'gps',
    next (dtMs) {
      heading = (heading + noise(rand) * 8 + 360) % 360
      speed = drift(speed, 50, 0.05, 3, 0, 130, rand)
      altitude = drift(altitude, 250, 0.01, 1, -10, 3000, rand)
      const km = speed * dtMs / 3_600_000
      const rad = heading * Math.PI / 180
      lat = Math.max(-85, Math.min(85, lat + km * Math.cos(rad) / 111.32))
      lon = ((lon + km * Math.sin(rad) / (111.32 * Math.cos(lat * Math.PI / 180)) + 540) % 360) - 180
      const satellites = Math.max(3, Math.min(14, Math.round(9 + noise(rand) * 2)))
      return { lat: round(lat, 6), lon: round(lon, 6), speed: round(speed, 1), heading: round(heading, 1), altitude: round(altitude, 1), satellites }
    }
  }
}

function meter (rand: () => number): Profile {
  const base = 300 + rand() * 1500
  let power = base
  let voltage = 230
  let energy = rand() * 10_000
  return {
    name: 'meter',
    next (dtMs) {
      power = drift(power, base, 0.1, base * 0.05, 0, 11_000, rand)
      voltage = drift(voltage, 230, 0.2, 0.8, 207, 253, rand)
      energy += power * dtMs / 3_600_000_000 // W * ms -> kWh
      return { power: round(power, 1), voltage: round(voltage, 1), current: round(power / voltage, 3), energy: round(energy, 4) }
    }
  }
}

const FACTORIES: Record<ProfileName, (rand: () => number) => Profile> = { climate, gps, meter }

/** The profile of device number `index` (0-based); `mixed` cycles through all of them. */
export function createProfile (name: ProfileName | 'mixed', index: number): Profile {
  const chosen = name === 'mixed' ? PROFILE_NAMES[index % PROFILE_NAMES.length] : name
  return FACTORIES[chosen](rng(index * 7919 + 1))
}
