<?php
/**
 * worker.php: a business worker (GatewayWorker's BusinessWorker onConnect / onMessage /
 * onClose) consuming chatgate's events stream with a consumer group (docs/push-api.md, part 3).
 *
 *   php examples/php/worker.php [--host 127.0.0.1] [--port 6379] [--prefix chat:]
 *                               [--group workers] [--consumer worker-<pid>]
 *                               [--max N] [--idle-exit SECONDS]
 *
 * Start as many as you like with the same --group: each event goes to one of them. An event
 * is acknowledged (XACK) after its handler returns, so a worker killed mid-way leaves it
 * pending; on start a worker first finishes its own pending entries, and claims entries other
 * consumers left pending for over a minute (XAUTOCLAIM). Delivery is at-least-once.
 *
 * Each event prints one JSON line: {"id","type","client_id","uid","gateway",...}.
 * --max stops after N events, --idle-exit after that many seconds without one (for tests).
 */

require __DIR__ . '/Gateway.php';

use Chatgate\Gateway;

$opt = getopt('', ['host:', 'port:', 'prefix:', 'group:', 'consumer:', 'max:', 'idle-exit:']);
$host = $opt['host'] ?? '127.0.0.1';
$port = (int) ($opt['port'] ?? 6379);
$prefix = $opt['prefix'] ?? 'chat:';
$group = $opt['group'] ?? 'workers';
$consumer = $opt['consumer'] ?? 'worker-' . getmypid();
$max = isset($opt['max']) ? (int) $opt['max'] : 0;
$idleExit = isset($opt['idle-exit']) ? (float) $opt['idle-exit'] : 0;
$stream = $prefix . 'events';

// Handlers: replace with your app's logic. Keep them idempotent (at-least-once).
function onConnect(array $e): void { /* e.g. send a welcome with Chatgate\Gateway::sendToClient */ }
function onMessage(array $e): void { /* e.g. Chatgate\Gateway::sendToGroup(...) */ }
function onClose(array $e): void { /* e.g. tell the room that $e['uid'] left */ }

Gateway::$redisHost = $host;
Gateway::$redisPort = $port;
Gateway::$prefix = $prefix;
$r = Gateway::redis();
$r->setOption(\Redis::OPT_READ_TIMEOUT, -1); // XREADGROUP BLOCK waits longer than the default timeout

// Create the group from the start of the stream; BUSYGROUP means it exists already.
if (!$r->xGroup('CREATE', $stream, $group, '0', true)) {
    $err = (string) $r->getLastError();
    $r->clearLastError();
    if (strpos($err, 'BUSYGROUP') !== 0) {
        fwrite(STDERR, "worker: XGROUP CREATE: $err\n");
        exit(1);
    }
}

$handled = 0;
$handle = function (string $id, array $f) use ($r, $stream, $group, &$handled) {
    foreach (['session', 'groups'] as $k) {
        if (isset($f[$k])) {
            $f[$k] = json_decode($f[$k], true);
        }
    }
    switch ($f['type'] ?? '') {
        case 'connect': onConnect($f); break;
        case 'message': onMessage($f); break;
        case 'close': onClose($f); break;
    }
    echo json_encode(['id' => $id] + $f, JSON_UNESCAPED_SLASHES), "\n";
    $r->xAck($stream, $group, [$id]);
    $handled++;
};

// 1. Our own pending entries (fetched before a restart, never acked).
$pending = $r->xReadGroup($group, $consumer, [$stream => '0'], 1000) ?: [];
foreach ($pending[$stream] ?? [] as $id => $f) {
    if ($f) { // an entry trimmed from the stream comes back empty: just ack it
        $handle($id, $f);
    } else {
        $r->xAck($stream, $group, [$id]);
    }
}
// 2. Entries another consumer left pending for over a minute (it died).
// (phpredis 5 has no xAutoClaim: raw command, reply [next id, [[id, [f, v, ...]], ...], ...].)
$claimed = $r->rawCommand('XAUTOCLAIM', $stream, $group, $consumer, '60000', '0-0', 'COUNT', '100');
foreach ((is_array($claimed) ? $claimed[1] : []) as $entry) {
    [$id, $flat] = $entry;
    $f = [];
    for ($i = 0; $i + 1 < count($flat ?: []); $i += 2) {
        $f[$flat[$i]] = $flat[$i + 1];
    }
    if ($f) {
        $handle($id, $f);
    } else {
        $r->xAck($stream, $group, [$id]);
    }
}
// 3. New entries.
$lastEvent = microtime(true);
while ($max === 0 || $handled < $max) {
    $count = $max > 0 ? min(100, $max - $handled) : 100; // never fetch more than we will handle
    $res = $r->xReadGroup($group, $consumer, [$stream => '>'], $count, 1000);
    foreach (($res[$stream] ?? []) as $id => $f) {
        $handle($id, $f);
        $lastEvent = microtime(true);
    }
    if ($idleExit > 0 && microtime(true) - $lastEvent > $idleExit) {
        break;
    }
}
fwrite(STDERR, "worker $consumer: handled $handled events\n");
