/** The value under `key`, created (and stored) by `create` the first time it is asked for. */
export function getOrCreate<K, V> (map: Map<K, V>, key: K, create: () => V): V {
  let value = map.get(key)
  if (value === undefined) {
    value = create()
    map.set(key, value)
  }
  return value
}
