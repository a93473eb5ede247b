// Minimal types for the async persistence classes, which ship without their own for these entry points.
declare module 'aedes-persistence/asyncPersistence.js' {
  const MemoryPersistence: new () => import('../storage.js').AsyncPersistence
  export default MemoryPersistence
}
declare module 'aedes-persistence-level/asyncPersistence.js' {
  const LevelPersistence: new (db: unknown) => import('../storage.js').AsyncPersistence
  export default LevelPersistence
}
declare module 'aedes-persistence-redis/asyncPersistence.js' {
  const RedisPersistence: new (opts: { conn: unknown, maxSessionDelivery?: number }) => import('../storage.js').AsyncPersistence
  export default RedisPersistence
}
