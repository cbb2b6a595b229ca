<?php
/**
 * Chatgate\Gateway: GatewayWorker's GatewayClient API over chatgate's Redis protocol.
 *
 * Dependency-free (the phpredis extension only), written from docs/push-api.md. A Laravel
 * app that used GatewayClient switches by changing its import:
 *
 *     use GatewayClient\Gateway;   // before
 *     use Chatgate\Gateway;        // after
 *
 *     Gateway::$redisHost = '127.0.0.1';
 *     Gateway::$redisPort = 6379;
 *     Gateway::$prefix    = 'chat:';          // chatgate's --redis-prefix
 *     Gateway::$luaDir    = '/path/to/session/lua';
 *     Gateway::bindUid($client_id, $uid);
 *     Gateway::joinGroup($client_id, $room);
 *     Gateway::sendToGroup($room, json_encode(['type' => 'say']), $exclude);
 *
 * Messages are sent verbatim as one WebSocket text frame (encode them yourself, as with
 * GatewayClient). Every write runs the steps of docs/push-api.md in order and waits for each
 * reply, so a call that returned is visible to the next one (read-your-writes). joinGroup,
 * leaveGroup, ungroup, bindUid and unbindUid are one atomic script each (session/lua/op_*.lua).
 * Redis errors throw \RuntimeException; invalid ids throw \InvalidArgumentException.
 *
 * Standalone and Sentinel Redis (through the master's address). Not Redis Cluster.
 */

namespace Chatgate;

final class Gateway
{
    /** @var string Redis host. */
    public static $redisHost = '127.0.0.1';
    /** @var int Redis port. */
    public static $redisPort = 6379;
    /** @var string|null Redis password (AUTH), null for none. */
    public static $redisPassword = null;
    /** @var int Redis database. */
    public static $redisDb = 0;
    /** @var float Connect and read timeout, seconds. */
    public static $timeout = 3.0;
    /** @var string Key and channel prefix: chatgate's --redis-prefix. */
    public static $prefix = 'chat:';
    /** @var string|null Directory of chatgate's session/lua/*.lua; null: ../../session/lua from here. */
    public static $luaDir = null;

    /** @var \Redis|null */
    private static $redis = null;
    /** @var array<string,string> script name => sha1 */
    private static $shas = [];

    // ---- connection and helpers -------------------------------------------------------

    /** Returns the shared connection, connecting on first use. */
    public static function redis(): \Redis
    {
        if (self::$redis === null) {
            $r = new \Redis();
            if (!$r->connect(self::$redisHost, (int) self::$redisPort, (float) self::$timeout, null, 0, (float) self::$timeout)) {
                throw new \RuntimeException('chatgate: cannot connect to Redis at ' . self::$redisHost . ':' . self::$redisPort);
            }
            if (self::$redisPassword !== null && !$r->auth(self::$redisPassword)) {
                throw new \RuntimeException('chatgate: Redis AUTH failed');
            }
            if (self::$redisDb && !$r->select((int) self::$redisDb)) {
                throw new \RuntimeException('chatgate: Redis SELECT failed');
            }
            self::$redis = $r;
        }
        return self::$redis;
    }

    /** Drops the connection (after changing the static config, or after fork). */
    public static function reset(): void
    {
        if (self::$redis !== null) {
            try {
                self::$redis->close();
            } catch (\Throwable $e) {
            }
        }
        self::$redis = null;
        self::$shas = [];
    }

    private static function key(string $kind, string $id = '', string $suffix = ''): string
    {
        return self::$prefix . $kind . ($id === '' ? '' : ':{' . $id . '}') . $suffix;
    }

    private static function clientKey(string $cid): string { return self::key('client', $cid); }
    private static function clientGroupsKey(string $cid): string { return self::key('client', $cid, ':groups'); }
    private static function uidKey(string $uid): string { return self::key('uid', $uid); }
    private static function groupKey(string $gid): string { return self::key('group', $gid); }
    private static function groupGwKey(string $gid): string { return self::key('group', $gid, ':gw'); }
    private static function inbox(string $gw): string { return self::key('gw', $gw); }
    private static function gwClientsKey(string $gw): string { return self::key('gw', $gw, ':clients'); }

    /** Validates a uid or group id (1..256 bytes, no braces, no control characters). */
    private static function id($id): string
    {
        $id = (string) $id;
        if ($id === '' || strlen($id) > 256 || preg_match('/[{}\x00-\x1f\x7f]/', $id)) {
            throw new \InvalidArgumentException('chatgate: invalid id ' . json_encode($id));
        }
        return $id;
    }

    /**
     * Returns the gateway id a client id names: "<gateway>.<random>", or 20
     * lower-case hex digits of which the first 12 are the gateway
     * (GatewayWorker-compatible gateways, docs/gatewayworker.md).
     */
    private static function gatewayOf($cid): string
    {
        $cid = self::id($cid);
        if (preg_match('/^[0-9a-f]{20}$/', $cid)) {
            return substr($cid, 0, 12);
        }
        if (!preg_match('/^([a-z0-9_-]{1,64})\.(.+)$/s', $cid, $m)) {
            throw new \InvalidArgumentException('chatgate: invalid client id ' . json_encode($cid));
        }
        return $m[1];
    }

    private static function json(array $v): string
    {
        return json_encode($v, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR);
    }

    /** Fails on an error reply (phpredis returns false and keeps the error). */
    private static function check($res, string $op)
    {
        if ($res === false) {
            $err = self::redis()->getLastError();
            if ($err !== null) {
                self::redis()->clearLastError();
                throw new \RuntimeException("chatgate: $op: $err");
            }
        }
        return $res;
    }

    private static function publish(string $gw, array $env): void
    {
        self::check(self::redis()->publish(self::inbox($gw), self::json($env)), 'publish');
    }

    private static function scriptSource(string $name): string
    {
        $dir = self::$luaDir ?? __DIR__ . '/../../session/lua';
        $src = @file_get_contents($dir . '/' . $name . '.lua');
        if ($src === false) {
            throw new \RuntimeException("chatgate: cannot read $dir/$name.lua (set Gateway::\$luaDir)");
        }
        return $src;
    }

    /** Runs one of session/lua/*.lua with EVALSHA, loading it again on NOSCRIPT. */
    private static function script(string $name, array $keys, array $args = [])
    {
        $r = self::redis();
        if (!isset(self::$shas[$name])) {
            self::$shas[$name] = self::check($r->script('load', self::scriptSource($name)), "load $name");
        }
        $argv = array_map('strval', array_merge($keys, $args));
        $r->clearLastError();
        $res = $r->evalSha(self::$shas[$name], $argv, count($keys));
        $err = $r->getLastError();
        if ($err !== null) {
            $r->clearLastError();
            if (strncmp($err, 'NOSCRIPT', 8) !== 0) {
                throw new \RuntimeException("chatgate: $name: $err");
            }
            unset(self::$shas[$name]);
            return self::script($name, $keys, $args);
        }
        return $res;
    }

    /** Normalizes an id or list of ids; null, '' and booleans (GatewayClient's $raw flag) mean none. */
    private static function ids($v): array
    {
        if ($v === null || $v === '' || is_bool($v)) {
            return [];
        }
        return array_values(array_map('strval', is_array($v) ? $v : [$v]));
    }

    // ---- sending ---------------------------------------------------------------------

    private static function sendEnvelope(string $message, array $exclude): array
    {
        if (preg_match('//u', $message) !== 1) { // valid UTF-8 (no mbstring needed)
            throw new \InvalidArgumentException('chatgate: message is not valid UTF-8');
        }
        $env = ['op' => 'send'];
        if ($exclude) {
            $env['exclude'] = $exclude;
        }
        return $env;
    }

    /**
     * Sends to every client, or only to $client_id_array when given; never to $exclude_client_id.
     * @param string|string[]|null $client_id_array
     * @param string|string[]|null $exclude_client_id
     */
    public static function sendToAll($message, $client_id_array = null, $exclude_client_id = null): void
    {
        $env = self::sendEnvelope((string) $message, self::ids($exclude_client_id));
        if ($client_id_array !== null) {
            self::sendToClients(self::ids($client_id_array), $env, (string) $message);
            return;
        }
        $env['payload'] = (string) $message;
        self::check(self::redis()->publish(self::$prefix . 'all', self::json($env)), 'send to all');
    }

    /** Sends to one client. Like GatewayClient it does not check that the client exists. */
    public static function sendToClient($client_id, $message): void
    {
        self::sendToClients([(string) $client_id], self::sendEnvelope((string) $message, []), (string) $message);
    }

    private static function sendToClients(array $cids, array $env, string $message): void
    {
        $byGw = [];
        foreach ($cids as $cid) {
            $byGw[self::gatewayOf($cid)][] = $cid;
        }
        foreach ($byGw as $gw => $list) {
            self::publish((string) $gw, $env + ['clients' => $list, 'payload' => $message]);
        }
    }

    /**
     * Sends to every connection of a uid, or of several.
     * @param string|string[] $uid
     */
    public static function sendToUid($uid, $message, $exclude_client_id = null): void
    {
        self::sendToSets('uids', self::ids($uid), (string) $message, self::ids($exclude_client_id));
    }

    /**
     * Sends to every member of a group, or of several; never to $exclude_client_id.
     * @param string|string[] $group
     * @param string|string[]|null $exclude_client_id
     */
    public static function sendToGroup($group, $message, $exclude_client_id = null): void
    {
        self::sendToSets('groups', self::ids($group), (string) $message, self::ids($exclude_client_id));
    }

    private static function sendToSets(string $field, array $ids, string $message, array $exclude): void
    {
        if (!$ids) {
            return;
        }
        $ids = array_map([self::class, 'id'], $ids);
        $env = self::sendEnvelope($message, []);
        $env[$field] = $ids;
        if ($exclude) {
            $env['exclude'] = $exclude;
        }
        $env['payload'] = $message;
        if (count($ids) === 1) { // one round trip: the script publishes to each gateway
            if ($field === 'groups') {
                self::script('send_group', [self::groupGwKey($ids[0])], [self::$prefix, self::json($env)]);
            } else {
                self::script('send_uid', [self::uidKey($ids[0])], [self::$prefix, self::json($env)]);
            }
            return;
        }
        $r = self::redis();
        $gws = [];
        foreach ($ids as $id) {
            if ($field === 'groups') {
                foreach ($r->hKeys(self::groupGwKey($id)) ?: [] as $gw) {
                    $gws[$gw] = true;
                }
            } else {
                foreach ($r->sMembers(self::uidKey($id)) ?: [] as $cid) {
                    if (preg_match('/^([a-z0-9_-]{1,64})\./', $cid, $m)) {
                        $gws[$m[1]] = true;
                    }
                }
            }
        }
        foreach (array_keys($gws) as $gw) {
            self::publish((string) $gw, $env);
        }
    }

    /** Closes a client's connection, after sending it $message when given. */
    public static function closeClient($client_id, $message = null): void
    {
        $gw = self::gatewayOf($client_id);
        $env = ['op' => 'close', 'clients' => [(string) $client_id]];
        if ($message !== null) {
            $env['payload'] = (string) $message;
        }
        self::publish($gw, $env);
    }

    // ---- groups -----------------------------------------------------------------------

    /** Adds a live client to a group (op_join.lua). Returns false when the client is not connected. */
    public static function joinGroup($client_id, $group): bool
    {
        $cid = (string) $client_id;
        $gw = self::gatewayOf($cid);
        $gid = self::id($group);
        $keys = [self::clientKey($cid), self::clientGroupsKey($cid), self::groupKey($gid), self::groupGwKey($gid), self::$prefix . 'groups'];
        $env = self::json(['op' => 'join', 'clients' => [$cid], 'groups' => [$gid]]);
        return (int) self::script('op_join', $keys, [$gid, $cid, $gw, self::inbox($gw), $env]) === 1;
    }

    /** Removes a client from a group (op_leave.lua; not an error when it is not a member). */
    public static function leaveGroup($client_id, $group): void
    {
        $cid = (string) $client_id;
        $gw = self::gatewayOf($cid);
        $gid = self::id($group);
        $keys = [self::clientGroupsKey($cid), self::groupKey($gid), self::groupGwKey($gid), self::$prefix . 'groups'];
        $env = self::json(['op' => 'leave', 'clients' => [$cid], 'groups' => [$gid]]);
        self::script('op_leave', $keys, [$gid, $cid, $gw, self::inbox($gw), $env]);
    }

    /** Dissolves a group: every member leaves it (op_ungroup.lua). */
    public static function ungroup($group): void
    {
        $gid = self::id($group);
        $keys = [self::groupKey($gid), self::groupGwKey($gid), self::$prefix . 'groups'];
        self::script('op_ungroup', $keys, [$gid, self::$prefix, self::json(['op' => 'ungroup', 'groups' => [$gid]])]);
    }

    // ---- uids -------------------------------------------------------------------------

    /** Binds a live client to a uid, moving it from another uid (op_bind.lua). False when not connected. */
    public static function bindUid($client_id, $uid): bool
    {
        $cid = (string) $client_id;
        $gw = self::gatewayOf($cid);
        $uid = self::id($uid);
        $keys = [self::clientKey($cid), self::uidKey($uid), self::$prefix . 'uids'];
        $env = self::json(['op' => 'bind', 'clients' => [$cid], 'uids' => [$uid]]);
        return (int) self::script('op_bind', $keys, [$uid, $cid, self::$prefix, self::inbox($gw), $env]) === 1;
    }

    /** Unbinds a client from a uid (op_unbind.lua; not an error when it is not bound to it). */
    public static function unbindUid($client_id, $uid): void
    {
        $cid = (string) $client_id;
        $gw = self::gatewayOf($cid);
        $uid = self::id($uid);
        $keys = [self::clientKey($cid), self::uidKey($uid), self::$prefix . 'uids'];
        $env = self::json(['op' => 'unbind', 'clients' => [$cid], 'uids' => [$uid]]);
        self::script('op_unbind', $keys, [$uid, $cid, self::inbox($gw), $env]);
    }

    // ---- sessions ---------------------------------------------------------------------

    /** Replaces a live client's session. False when the client is not connected. */
    public static function setSession($client_id, array $session): bool
    {
        return self::writeSession('session_set', 'set_session', (string) $client_id, $session);
    }

    /** Merges fields into a live client's session. False when the client is not connected. */
    public static function updateSession($client_id, array $session): bool
    {
        return self::writeSession('session_update', 'update_session', (string) $client_id, $session);
    }

    private static function writeSession(string $script, string $op, string $cid, array $session): bool
    {
        $gw = self::gatewayOf($cid);
        $args = [];
        $fields = [];
        foreach ($session as $f => $v) {
            $f = (string) $f;
            if ($f === '' || $f[0] === '_') {
                throw new \InvalidArgumentException('chatgate: reserved session field ' . json_encode($f));
            }
            $fields[$f] = (string) $v;
            $args[] = $f;
            $args[] = (string) $v;
        }
        $ok = (int) self::script($script, [self::clientKey($cid)], $args);
        // An empty PHP array encodes as [], the envelope needs an object.
        self::publish($gw, ['op' => $op, 'clients' => [$cid], 'session' => (object) $fields]);
        return $ok === 1;
    }

    /** Returns a live client's session, or null when it is not connected. */
    public static function getSession($client_id): ?array
    {
        self::gatewayOf($client_id);
        $all = self::redis()->hGetAll(self::clientKey((string) $client_id));
        if (!$all) {
            return null;
        }
        return self::appFields($all);
    }

    private static function appFields(array $hash): array
    {
        $out = [];
        foreach ($hash as $f => $v) {
            if (((string) $f)[0] !== '_') {
                $out[(string) $f] = $v;
            }
        }
        return $out;
    }

    // ---- queries ----------------------------------------------------------------------

    /** 1 when the client id names a live connection, else 0 (as GatewayClient). */
    public static function isOnline($client_id): int
    {
        self::gatewayOf($client_id);
        return self::redis()->exists(self::clientKey((string) $client_id)) ? 1 : 0;
    }

    /** 1 when the uid has a live connection, else 0. */
    public static function isUidOnline($uid): int
    {
        return self::redis()->sCard(self::uidKey(self::id($uid))) > 0 ? 1 : 0;
    }

    /** Batch isUidOnline: [uid => bool], in one round trip. */
    public static function batchIsUidOnline(array $uids): array
    {
        $uids = array_map([self::class, 'id'], array_values($uids));
        $r = self::redis()->multi(\Redis::PIPELINE);
        foreach ($uids as $uid) {
            $r->sCard(self::uidKey($uid));
        }
        $counts = $uids ? $r->exec() : [];
        $out = [];
        foreach ($uids as $i => $uid) {
            $out[$uid] = $counts[$i] > 0;
        }
        return $out;
    }

    /** The client ids bound to a uid. */
    public static function getClientIdByUid($uid): array
    {
        return self::redis()->sMembers(self::uidKey(self::id($uid))) ?: [];
    }

    /** Batch getClientIdByUid: [uid => client ids], in one round trip. */
    public static function batchGetClientIdByUid(array $uids): array
    {
        $uids = array_map([self::class, 'id'], array_values($uids));
        $r = self::redis()->multi(\Redis::PIPELINE);
        foreach ($uids as $uid) {
            $r->sMembers(self::uidKey($uid));
        }
        $lists = $uids ? $r->exec() : [];
        $out = [];
        foreach ($uids as $i => $uid) {
            $out[$uid] = $lists[$i] ?: [];
        }
        return $out;
    }

    /** The uid a client is bound to; null when unbound or not connected. */
    public static function getUidByClientId($client_id): ?string
    {
        self::gatewayOf($client_id);
        $v = self::redis()->hMGet(self::clientKey((string) $client_id), ['_gw', '_uid']);
        if (!$v || $v['_gw'] === false || $v['_uid'] === false) {
            return null;
        }
        return $v['_uid'];
    }

    /** Number of connections in a group. */
    public static function getClientIdCountByGroup($group): int
    {
        return (int) self::redis()->sCard(self::groupKey(self::id($group)));
    }

    /** Alias of getClientIdCountByGroup (GatewayClient has both). */
    public static function getClientCountByGroup($group): int
    {
        return self::getClientIdCountByGroup($group);
    }

    /** Client ids in a group. */
    public static function getClientIdListByGroup($group): array
    {
        return self::redis()->sMembers(self::groupKey(self::id($group))) ?: [];
    }

    /** [client id => session] of every live member of a group. */
    public static function getClientSessionsByGroup($group): array
    {
        $cids = self::getClientIdListByGroup($group);
        $r = self::redis()->multi(\Redis::PIPELINE);
        foreach ($cids as $cid) {
            $r->hGetAll(self::clientKey($cid));
        }
        $hashes = $cids ? $r->exec() : [];
        $out = [];
        foreach ($cids as $i => $cid) {
            if (!empty($hashes[$i])) {
                $out[$cid] = self::appFields($hashes[$i]);
            }
        }
        return $out;
    }

    /** Distinct uids bound to members of a group. */
    public static function getUidListByGroup($group): array
    {
        $cids = self::getClientIdListByGroup($group);
        $r = self::redis()->multi(\Redis::PIPELINE);
        foreach ($cids as $cid) {
            $r->hGet(self::clientKey($cid), '_uid');
        }
        $uids = $cids ? $r->exec() : [];
        $out = [];
        foreach ($uids as $uid) {
            if ($uid !== false && $uid !== null && $uid !== '') {
                $out[$uid] = true;
            }
        }
        return array_map('strval', array_keys($out));
    }

    /** Number of distinct uids in a group. */
    public static function getUidCountByGroup($group): int
    {
        return count(self::getUidListByGroup($group));
    }

    /** Every uid with a live connection. */
    public static function getAllUidList(): array
    {
        return self::redis()->sMembers(self::$prefix . 'uids') ?: [];
    }

    /** Number of uids with a live connection. */
    public static function getAllUidCount(): int
    {
        return (int) self::redis()->sCard(self::$prefix . 'uids');
    }

    /** Every non-empty group. */
    public static function getAllGroupIdList(): array
    {
        return self::redis()->sMembers(self::$prefix . 'groups') ?: [];
    }

    /** Every live client id, on all gateways. */
    public static function getAllClientIdList(): array
    {
        $out = [];
        foreach (self::redis()->sMembers(self::$prefix . 'gateways') ?: [] as $gw) {
            $out = array_merge($out, self::redis()->sMembers(self::gwClientsKey($gw)) ?: []);
        }
        return $out;
    }

    /** Number of live connections, on all gateways. */
    public static function getAllClientIdCount(): int
    {
        $n = 0;
        foreach (self::redis()->sMembers(self::$prefix . 'gateways') ?: [] as $gw) {
            $n += (int) self::redis()->sCard(self::gwClientsKey($gw));
        }
        return $n;
    }

    /** Alias of getAllClientIdCount (GatewayClient has both). */
    public static function getAllClientCount(): int
    {
        return self::getAllClientIdCount();
    }

    /** [client id => session] of every live connection. */
    public static function getAllClientSessions(): array
    {
        $cids = self::getAllClientIdList();
        $r = self::redis()->multi(\Redis::PIPELINE);
        foreach ($cids as $cid) {
            $r->hGetAll(self::clientKey($cid));
        }
        $hashes = $cids ? $r->exec() : [];
        $out = [];
        foreach ($cids as $i => $cid) {
            if (!empty($hashes[$i])) {
                $out[$cid] = self::appFields($hashes[$i]);
            }
        }
        return $out;
    }
}
