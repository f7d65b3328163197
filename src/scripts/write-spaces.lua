-- A flush's writes to the users hashes of many spaces in one call, each hash's expiry refreshed.
-- KEYS: for each space, its users hash then its owners hash.
-- ARGV[1] this server's id, ARGV[2] the hashes' TTL (s); then per space: the number of field/value
-- items to set and the items, the number of fields to delete and the fields, the number of users to
-- own and the users.
-- Owning: a user this server writes as connected for the first time since it held them goes into
-- the owners hash unless another server is there. The join's claim did it already; this repairs a
-- claim that a disown sent earlier but run later took away (a drop and a rejoin in quick
-- succession), so that a later join elsewhere still finds this server and takes the avatar over.
-- A space whose users or owners key holds another writer's data (a command on it answers WRONGTYPE)
-- is left as it is, so that the other spaces are written; any other error ends the call, to be tried
-- again whole (an out-of-memory or read-only Redis passes).
-- Returns the numbers in KEYS (1-based) of the keys that refused, one per space at most.

-- Lua's unpack() refuses ~8,000 values: HSET and HDEL go this many arguments at a time.
local ARGS_PER_CALL = 1000
local serverId, ttl = ARGV[1], tonumber(ARGV[2])
local refused = {}
-- False when the key holds another type; any other error is raised.
local function accepted (reply)
  if type(reply) ~= 'table' or not reply.err then return true end
  if string.find(reply.err, 'WRONGTYPE', 1, true) then return false end
  error(reply)
end
-- Runs the command in slices; false when the key refused it (its first slice fails, nothing written).
local function each (key, command, from, count)
  for i = from, from + count - 1, ARGS_PER_CALL do
    if not accepted(redis.pcall(command, key, unpack(ARGV, i, math.min(i + ARGS_PER_CALL - 1, from + count - 1)))) then return false end
  end
  return true
end
local function own (owners, from, count)
  for i = from, from + count - 1 do
    local holder = redis.pcall('HGET', owners, ARGV[i])
    if not accepted(holder) then return false end
    if not holder then
      redis.call('HSET', owners, ARGV[i], serverId)
      redis.call('EXPIRE', owners, ttl)
    end
  end
  return true
end
local a = 3
for k = 1, #KEYS, 2 do
  local users, owners = KEYS[k], KEYS[k + 1]
  local set = tonumber(ARGV[a])
  local removed = tonumber(ARGV[a + 1 + set])
  local owned = tonumber(ARGV[a + 2 + set + removed])
  -- The owners first: a space whose owners key refuses gets nothing written to its users hash either.
  if not own(owners, a + 3 + set + removed, owned) then
    refused[#refused + 1] = k + 1
  elseif not (each(users, 'HSET', a + 1, set) and each(users, 'HDEL', a + 2 + set, removed)) then
    refused[#refused + 1] = k
  elseif set + removed > 0 then
    redis.call('EXPIRE', users, ttl)
  end
  a = a + 3 + set + removed + owned
end
return refused
