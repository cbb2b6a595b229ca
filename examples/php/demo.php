<?php
/**
 * demo.php: the GatewayClient calls a Laravel app makes, against live chatgate gateways.
 *
 *   php examples/php/demo.php <redis host> <redis port> <prefix> <client A> <client B> <client C>
 *
 * A and B should be on one gateway, C on another. It binds A and B to uid "u1" and C to "u2",
 * puts A and C in group "room", sends to uid / group / all with exclude, reads sessions and
 * counts, then undoes it all and closes B. It prints one JSON object with what it read;
 * tests/php_client_test.go checks both that and what each client received.
 */

require __DIR__ . '/Gateway.php';

use Chatgate\Gateway;

[$_, $host, $port, $prefix, $a, $b, $c] = $argv + array_fill(0, 7, null);
if ($c === null) {
    fwrite(STDERR, "usage: php demo.php HOST PORT PREFIX CLIENT_A CLIENT_B CLIENT_C\n");
    exit(2);
}
Gateway::$redisHost = $host;
Gateway::$redisPort = (int) $port;
Gateway::$prefix = $prefix;

$out = [];
$out['bind'] = [Gateway::bindUid($a, 'u1'), Gateway::bindUid($b, 'u1'), Gateway::bindUid($c, 'u2')];
$out['join'] = [Gateway::joinGroup($a, 'room'), Gateway::joinGroup($c, 'room')];
$out['join_unknown'] = Gateway::joinGroup('gw1.AAAAAAAAAAAAAAAAAAAAAA', 'room');

// Read-your-writes: each send comes right after the writes it depends on.
Gateway::sendToUid('u1', json_encode(['type' => 'to', 'content' => 'to-u1']));
Gateway::sendToGroup('room', 'to-room-but-A', $a);
Gateway::sendToAll('to-all-but-B', null, $b);
Gateway::sendToClient($c, 'to-C');
Gateway::sendToAll('to-A-and-C', [$a, $c]);
Gateway::sendToUid(['u1', 'u2'], 'to-u1-u2', [$b]);

$out['set_session'] = Gateway::setSession($a, ['uname' => 'ann', 'bubble' => 'red']);
$out['update_session'] = Gateway::updateSession($a, ['room_id' => '1']);
$out['session_a'] = Gateway::getSession($a);
$out['session_unknown'] = Gateway::getSession('gw1.AAAAAAAAAAAAAAAAAAAAAA');
$out['sessions_room'] = array_map(function ($s) { return (object) $s; }, Gateway::getClientSessionsByGroup('room'));
$out['count_room'] = Gateway::getClientIdCountByGroup('room');
$out['clients_room'] = Gateway::getClientIdListByGroup('room');
sort($out['clients_room']);
$out['uids_room'] = Gateway::getUidListByGroup('room');
sort($out['uids_room']);
$out['uid_count_room'] = Gateway::getUidCountByGroup('room');
$out['all_uids'] = Gateway::getAllUidList();
sort($out['all_uids']);
$out['all_uid_count'] = Gateway::getAllUidCount();
$out['all_groups'] = Gateway::getAllGroupIdList();
$out['all_client_count'] = Gateway::getAllClientIdCount();
$out['all_clients'] = Gateway::getAllClientIdList();
sort($out['all_clients']);
$out['all_sessions_a'] = Gateway::getAllClientSessions()[$a] ?? null;
$out['is_online_a'] = Gateway::isOnline($a);
$out['is_online_unknown'] = Gateway::isOnline('gw1.AAAAAAAAAAAAAAAAAAAAAA');
$out['is_uid_online'] = [Gateway::isUidOnline('u1'), Gateway::isUidOnline('nobody')];
$out['batch_online'] = Gateway::batchIsUidOnline(['u1', 'u2', 'nobody']);
$ids = Gateway::getClientIdByUid('u1');
sort($ids);
$out['clients_u1'] = $ids;
$out['batch_clients'] = array_map(function ($l) { sort($l); return $l; }, Gateway::batchGetClientIdByUid(['u2', 'nobody']));
$out['uid_of_c'] = Gateway::getUidByClientId($c);

Gateway::leaveGroup($c, 'room');
Gateway::sendToGroup('room', 'room-after-C-left');
Gateway::unbindUid($b, 'u1');
Gateway::sendToUid('u1', 'u1-after-B-unbound');
$out['uid_of_b'] = Gateway::getUidByClientId($b);
Gateway::ungroup('room');
$out['groups_after_ungroup'] = Gateway::getAllGroupIdList();
$out['count_room_after_ungroup'] = Gateway::getClientIdCountByGroup('room');
Gateway::closeClient($b, 'bye-B');

echo json_encode($out, JSON_UNESCAPED_SLASHES), "\n";
