-- Counts userIds as a day's unique users of a space: exactly in a set while it holds at most
-- ARGV[2] members, then in a HyperLogLog (about 1% off, 12 KB at most), into which the set is moved.
-- KEYS[1] the day's set, KEYS[2] the day's HyperLogLog; ARGV[1] their expiry (EXPIREAT, s since
-- epoch), ARGV[2] the most members the set may hold, ARGV[3..] the userIds.
-- Returns the day's count of unique users (approximate once counted in the HyperLogLog).

-- Lua's unpack() refuses ~8,000 values: SADD and PFADD go this many arguments at a time.
local ARGS_PER_CALL = 1000
local function addAll (command, key, values, from)
  for i = from, #values, ARGS_PER_CALL do
    redis.call(command, key, unpack(values, i, math.min(i + ARGS_PER_CALL - 1, #values)))
  end
end
local set, hll, expireAt, limit = KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2])
if redis.call('EXISTS', hll) == 0 then
  addAll('SADD', set, ARGV, 3)
  if redis.call('SCARD', set) <= limit then
    redis.call('EXPIREAT', set, expireAt)
    return redis.call('SCARD', set)
  end
end
-- Over the limit (now or before): everything goes into the HyperLogLog, and the set is gone.
addAll('PFADD', hll, ARGV, 3)
if redis.call('EXISTS', set) == 1 then
  addAll('PFADD', hll, redis.call('SMEMBERS', set), 1)
  redis.call('DEL', set)
end
redis.call('EXPIREAT', hll, expireAt)
return redis.call('PFCOUNT', hll)
