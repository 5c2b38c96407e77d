/// The run registry's server-side scripts. Each runs atomically in Redis, and every expiry is
/// computed from the server's TIME, never from a pod's clock.
///
/// Keys, under the prefix P (ARGV[1] of every script):
/// - `P pods`           sorted set: pod id → registration expiry (ms, server time); live iff > now.
/// - `P pod:<pod>`      hash {slots, url}, PEXPIRE'd with the registration.
/// - `P leases:<pod>`   sorted set: slot number → lease expiry (ms, server time); live iff > now.
/// - `P runs:<pod>`     hash: `<slot>` → run id, `<slot>:holder` → the pod renewing the lease.
///
/// A lease's holder is the pod whose registry acquired it until the pod it names adopts it; only
/// the holder renews it and only the holder's release removes it.
enum RegistryScripts {
    private static let prelude = """
        if redis.replicate_commands then pcall(redis.replicate_commands) end
        local P = ARGV[1]
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local function lkey(pod) return P .. 'leases:' .. pod end
        local function rkey(pod) return P .. 'runs:' .. pod end
        local function keep(k, ms)
          local c = redis.call('PTTL', k)
          if c == -1 or (c >= 0 and c < ms) then redis.call('PEXPIRE', k, ms) end
        end
        local function purge(pod)
          local lk = lkey(pod)
          local dead = redis.call('ZRANGEBYSCORE', lk, '-inf', now)
          if #dead > 0 then
            for _, s in ipairs(dead) do redis.call('HDEL', rkey(pod), s, s .. ':holder') end
            redis.call('ZREMRANGEBYSCORE', lk, '-inf', now)
          end
        end
        local function live(pod, s)
          local sc = redis.call('ZSCORE', lkey(pod), s)
          if not sc or tonumber(sc) <= now then return false, false end
          return redis.call('HGET', rkey(pod), s), redis.call('HGET', rkey(pod), s .. ':holder')
        end
        local function put(pod, s, run, holder, ttl)
          redis.call('ZADD', lkey(pod), now + ttl, s)
          redis.call('HSET', rkey(pod), s, run, s .. ':holder', holder)
          keep(lkey(pod), ttl * 3)
          keep(rkey(pod), ttl * 3)
        end
        local function register(pod, slots, url, ttl)
          redis.call('ZADD', P .. 'pods', now + ttl, pod)
          redis.call('HSET', P .. 'pod:' .. pod, 'slots', slots, 'url', url)
          redis.call('PEXPIRE', P .. 'pod:' .. pod, ttl)
        end
        local function livePods()
          redis.call('ZREMRANGEBYSCORE', P .. 'pods', '-inf', now)
          return redis.call('ZRANGEBYSCORE', P .. 'pods', '(' .. now, '+inf')
        end

        """

    /// ARGV: P, self, self's slots, ttl ms, run id, then (slot, run id) for every lease on this pod
    /// its registry holds (re-asserted first, so a Redis that lost them cannot hand them out).
    /// Picks this pod if it has room, else the live pod with the most room (ties by pod id), and the
    /// lowest free slot there. Returns {1, live pods, pod, slot} or {0, live pods}.
    ///
    /// It does not refresh this pod's registration (only the heartbeat does), so a pod's registration
    /// never outlives the leases it took: a killed pod stops being chosen no later than its slots free up.
    static let acquire = RedisScript(
        name: "acquire",
        source: prelude + """
            local me, mySlots, ttl, run = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
            for i = 6, #ARGV - 1, 2 do put(me, ARGV[i], ARGV[i + 1], me, ttl) end
            purge(me)
            local target, targetSlots = nil, 0
            if mySlots - redis.call('ZCARD', lkey(me)) > 0 then target, targetSlots = me, mySlots end
            local pods = livePods()
            if not target then
              local bestFree = 0
              for _, p in ipairs(pods) do
                local slots = tonumber(redis.call('HGET', P .. 'pod:' .. p, 'slots'))
                if slots and p ~= me then
                  purge(p)
                  local free = slots - redis.call('ZCARD', lkey(p))
                  if free > 0 and (free > bestFree or (free == bestFree and p < target)) then
                    target, targetSlots, bestFree = p, slots, free
                  end
                end
              end
            end
            if not target then return {0, #pods} end
            for i = 0, targetSlots - 1 do
              local s = tostring(i)
              if not redis.call('ZSCORE', lkey(target), s) then
                put(target, s, run, me, ttl)
                return {1, #pods, target, i}
              end
            end
            return {0, #pods}
            """)

    /// ARGV: P, self, pod, slot, run id. Removes exactly that lease when self holds it (or no one
    /// does); 1 when removed, 0 otherwise.
    static let release = RedisScript(
        name: "release",
        source: prelude + """
            local me, pod, s, run = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
            local rk = rkey(pod)
            if redis.call('HGET', rk, s) ~= run then return 0 end
            local h = redis.call('HGET', rk, s .. ':holder')
            if h and h ~= me then return 0 end
            redis.call('ZREM', lkey(pod), s)
            redis.call('HDEL', rk, s, s .. ':holder')
            return 1
            """)

    /// The heartbeat. ARGV: P, self, self's slots, self's URL, ttl ms, then (pod, slot, run id) for
    /// every lease self holds. Registers the pod and, for each lease: renews it (`ok`), re-creates it
    /// when it is gone (`recreated`), takes back this pod's own slot from a lease a peer made for
    /// another run while this pod was away (`reclaimed`), or reports it `moved` (adopted by its pod)
    /// or `lost` (a peer's slot now held by another run). Returns {statuses, {pod, url, ...}}.
    static let heartbeat = RedisScript(
        name: "heartbeat",
        source: prelude + """
            local me, mySlots, url, ttl = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
            register(me, mySlots, url, ttl)
            local out = {}
            for i = 6, #ARGV - 2, 3 do
              local pod, s, run = ARGV[i], ARGV[i + 1], ARGV[i + 2]
              local r, h = live(pod, s)
              local st
              if r == run then
                if h == me then put(pod, s, run, me, ttl); st = 'ok' else st = 'moved' end
              elseif not r then
                put(pod, s, run, me, ttl); st = 'recreated'
              elseif pod == me then
                put(pod, s, run, me, ttl); st = 'reclaimed'
              else
                st = 'lost'
              end
              out[#out + 1] = st
            end
            local peers = {}
            for _, p in ipairs(livePods()) do
              peers[#peers + 1] = p
              peers[#peers + 1] = redis.call('HGET', P .. 'pod:' .. p, 'url') or ''
            end
            return {out, peers}
            """)

    /// ARGV: P, self, slot, run id, ttl ms. Confirms a live lease on self's own slot for that run and
    /// makes self its holder; 1 when adopted, 0 when it is not (or no longer) there.
    static let adopt = RedisScript(
        name: "adopt",
        source: prelude + """
            local me, s, run, ttl = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
            local r = live(me, s)
            if r ~= run then return 0 end
            put(me, s, run, me, ttl)
            return 1
            """)

    /// ARGV: P, self. Removes the pod's registration, so it is no longer chosen.
    static let deregister = RedisScript(
        name: "deregister",
        source: prelude + """
            redis.call('ZREM', P .. 'pods', ARGV[2])
            redis.call('DEL', P .. 'pod:' .. ARGV[2])
            return 1
            """)
}
