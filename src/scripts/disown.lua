-- Lets go of a user's avatar if this server still holds it (a newer claim elsewhere wins).
-- KEYS[1] the space's owners hash; ARGV[1] the user id, ARGV[2] this server's id. Returns 1 or 0.
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
