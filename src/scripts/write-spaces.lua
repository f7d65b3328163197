-- A flush's writes to the users hashes of many spaces in one call, each hash's expiry refreshed.
-- KEYS: for each space, its users hash then its owners hash.
-- ARGV[1] this server's id, ARGV[2] the hashes' TTL (s); then per space: the number of field/value
-- items to set and the items, the number of fields to delete and the fields, the number of users to
-- own and the users.
-- Owning: a user this server writes as connected for the first time since it held them goes into
-- the owners hash unless another server is there. The join's claim did it already; this repairs a
-- claim that a disown sent earlier but run later took away (a drop and a rejoin in quick
-- succession), so that a later join elsewhere still finds this server and takes the avatar over.
-- A space whose users or owners key holds something other than a hash (another writer's key) is
-- skipped, so that the other spaces are written.
-- Returns the numbers (1-based) of the spaces skipped.

-- Lua's unpack() refuses ~8,000 values: HSET and HDEL go this many arguments at a time.
local ARGS_PER_CALL = 1000
local serverId, ttl = ARGV[1], tonumber(ARGV[2])
local a = 3
local skipped = {}
local function isHash (key)
  local kind = redis.call('TYPE', key).ok
  return kind == 'hash' or kind == 'none'
end
local function each (key, command, from, count)
  for i = from, from + count - 1, ARGS_PER_CALL do
    redis.call(command, key, unpack(ARGV, i, math.min(i + ARGS_PER_CALL - 1, from + count - 1)))
  end
end
for k = 1, #KEYS, 2 do
  local users, owners = KEYS[k], KEYS[k + 1]
  local set = tonumber(ARGV[a])
  local removed = tonumber(ARGV[a + 1 + set])
  local owned = tonumber(ARGV[a + 2 + set + removed])
  if isHash(users) and isHash(owners) then
    each(users, 'HSET', a + 1, set)
    each(users, 'HDEL', a + 2 + set, removed)
    redis.call('EXPIRE', users, ttl)
    for i = a + 3 + set + removed, a + 2 + set + removed + owned do
      local holder = redis.call('HGET', owners, ARGV[i])
      if not holder then
        redis.call('HSET', owners, ARGV[i], serverId)
        redis.call('EXPIRE', owners, ttl)
      end
    end
  else
    skipped[#skipped + 1] = (k + 1) / 2
  end
  a = a + 3 + set + removed + owned
end
return skipped
