-- Defines or redefines a space, creating one only while the deployment holds fewer than the limit:
-- the count and the write are one step, so that servers creating spaces at once cannot pass it.
-- KEYS[1] the spaces hash; ARGV[1] the space id, ARGV[2] its definition (JSON), ARGV[3] MAX_SPACES.
-- Returns 1 when created, 0 when redefined, -1 when refused (the deployment is full).
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then
  return -1
end
return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
