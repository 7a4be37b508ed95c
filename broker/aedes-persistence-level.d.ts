/** aedes-persistence-level 9.x ships no typings: a factory over an opened abstract-level database. */
declare module 'aedes-persistence-level' {
  const createLevelPersistence: (db: unknown) => unknown;
  export default createLevelPersistence;
}
