-- Adds to one space's figures of one day, and sets when they expire, in one step (all or nothing).
-- KEYS[1] the day's analytics hash; ARGV[1] its expiry (EXPIREAT, s since epoch), then field and
-- increment pairs. Returns the number of fields incremented.
for i = 2, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIREAT', KEYS[1], ARGV[1])
return (#ARGV - 1) / 2
