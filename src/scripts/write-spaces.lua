-- A flush's writes to the users hashes of many spaces in one call, each hash's expiry refreshed.
-- KEYS: for each space, its users hash then its owners hash.
-- ARGV[1] this server's id, ARGV[2] the hashes' TTL (s); then per space: the number of field/value
-- items to set and the items, the number of fields to delete and the fields, the number of users to
-- own and the users.
-- Owning: a user this server writes as connected for the first time since it held them goes into
-- the owners hash unless another server is there. The join's claim did it already; this repairs a
-- claim that a disown sent earlier but run later took away (a drop and a rejoin in quick
-- succession), so that a later join elsewhere still finds this server and takes the avatar over.
-- Returns the number of spaces written.

-- Lua's unpack() refuses ~8,000 values: HSET and HDEL go this many arguments at a time.
local ARGS_PER_CALL = 1000
local serverId, ttl = ARGV[1], tonumber(ARGV[2])
local a = 3
local function each (key, command, from, count)
  for i = from, from + count - 1, ARGS_PER_CALL do
    redis.call(command, key, unpack(ARGV, i, math.min(i + ARGS_PER_CALL - 1, from + count - 1)))
  end
end
for k = 1, #KEYS, 2 do
  local users, owners = KEYS[k], KEYS[k + 1]
  local set = tonumber(ARGV[a])
  each(users, 'HSET', a + 1, set)
  a = a + 1 + set
  local removed = tonumber(ARGV[a])
  each(users, 'HDEL', a + 1, removed)
  a = a + 1 + removed
  redis.call('EXPIRE', users, ttl)
  local owned = tonumber(ARGV[a])
  for i = a + 1, a + owned do
    local holder = redis.call('HGET', owners, ARGV[i])
    if not holder then
      redis.call('HSET', owners, ARGV[i], serverId)
      redis.call('EXPIRE', owners, ttl)
    end
  end
  a = a + 1 + owned
end
return #KEYS / 2
