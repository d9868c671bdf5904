// The fence every rollout write goes through (the fleet contract): compare the fleet's epoch with the writer's,
// then write, in one script. KEYS: epoch key, key to write; ARGV: writer's epoch, value. Answers 'ok' or 'fenced'.
export const FENCED_WRITE = `
if tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[1]) then return 'fenced' end
redis.call('SET', KEYS[2], ARGV[2])
return 'ok'
`;
