-- Raises a day's peakUsers to the space's distinct connected users now, if higher: the owners hash
-- holds one field per user connected anywhere in the deployment.
-- KEYS[1] the day's analytics hash, KEYS[2] the space's owners hash; ARGV[1] the day hash's expiry
-- (EXPIREAT, s since epoch). Returns the day's peak.
local now = redis.call('HLEN', KEYS[2])
local peak = tonumber(redis.call('HGET', KEYS[1], 'peakUsers')) or 0
if now > peak then
  redis.call('HSET', KEYS[1], 'peakUsers', now)
  peak = now
end
redis.call('EXPIREAT', KEYS[1], ARGV[1])
return peak
