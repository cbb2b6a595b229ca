<?php
// A GatewayClient-compatible client written from docs/gatewayworker.md with
// plain sockets (not walkor's code), run by tests/gwc_php_test.go with the
// real php binary: real serialize() builds what chatgate reads and real
// unserialize() reads what chatgate answers. It runs the chat-room flow of
// the docs' Laravel example and prints what the queries returned, as JSON.
//
// usage: php gatewayworker_client.php REGISTER SECRET_KEY A B C   (A, B on one gateway, C on another)

[, $register, $key, $A, $B, $C] = $argv;

function addresses(): array
{
    global $register, $key;
    $s = stream_socket_client("tcp://$register", $errno, $err, 3);
    fwrite($s, '{"event":"worker_connect","secret_key":"' . $key . '"}' . "\n");
    stream_set_timeout($s, 5);
    $d = json_decode(trim(fgets($s, 655350)), true);
    return $d['addresses'];
}

function packet(int $cmd, int $conn, string $ext, $body, int $flag = 0): string
{
    if (is_scalar($body)) {
        $flag |= 1;
        $body = (string) $body;
    } else {
        $body = serialize($body);
    }
    return pack('NCNnNnNCnN', 28 + strlen($ext) + strlen($body), $cmd, 0, 0, 0, 0, $conn, $flag, 0, strlen($ext)) . $ext . $body;
}

function with_auth(string $pkt): string
{
    global $key;
    return $key === '' ? $pkt : packet(202, 0, '', json_encode(['secret_key' => $key])) . $pkt;
}

function send(string $addr, string $pkt): void
{
    $s = stream_socket_client("tcp://$addr", $errno, $err, 3);
    fwrite($s, with_auth($pkt));
    fclose($s);
}

function query(string $addr, string $pkt)
{
    $s = stream_socket_client("tcp://$addr", $errno, $err, 3);
    fwrite($s, with_auth($pkt));
    stream_set_timeout($s, 5);
    $buf = '';
    while (strlen($buf) < 4 || strlen($buf) < 4 + unpack('N', $buf)[1]) {
        $r = fread($s, 65535);
        if ($r === '' || $r === false) {
            throw new RuntimeException("connection closed by $addr");
        }
        $buf .= $r;
    }
    return unserialize(substr($buf, 4), ['allowed_classes' => false]);
}

function split_id(string $cid): array
{
    $a = unpack('Nip/nport/Nconn', pack('H*', $cid));
    return [long2ip($a['ip']) . ':' . $a['port'], $a['conn']];
}

function make_id(string $addr, int $conn): string
{
    [$ip, $port] = explode(':', $addr);
    return bin2hex(pack('NnN', ip2long($ip), (int) $port, $conn));
}

function to_client(int $cmd, string $cid, string $ext = '', $body = ''): void
{
    [$addr, $conn] = split_id($cid);
    send($addr, packet($cmd, $conn, $ext, $body));
}

function query_all(string $pkt): array
{
    $out = [];
    foreach (addresses() as $a) {
        $out[$a] = query($a, $pkt);
    }
    return $out;
}

// GatewayClient's public methods used by the flow.
function bind_uid($cid, $uid) { to_client(12, $cid, (string) $uid); }
function join_group($cid, $g) { to_client(20, $cid, (string) $g); }
function leave_group($cid, $g) { to_client(21, $cid, (string) $g); }
function set_session($cid, array $s) { to_client(204, $cid, serialize($s)); }
function update_session($cid, array $s) { to_client(9, $cid, serialize($s)); }
function send_to_client($cid, $msg) { to_client(5, $cid, '', $msg); }
function close_client($cid, $msg = null) { to_client(7, $cid, '', $msg); }
function get_session($cid) { [$a, $n] = split_id($cid); return query($a, packet(203, $n, '', '')); }
function is_online($cid) { [$a, $n] = split_id($cid); return query($a, packet(11, $n, '', '')); }

function count_by_group(string $g = ''): int
{
    $n = 0;
    foreach (query_all(packet(24, 0, $g, '')) as $c) {
        $n += $c;
    }
    return $n;
}

function send_to_group($groups, $msg, array $exclude = []): void
{
    $byAddr = [];
    foreach ($exclude as $cid) {
        [$a, $n] = split_id($cid);
        $byAddr[$a][$n] = $n;
    }
    foreach (addresses() as $a) {
        send($a, packet(22, 0, json_encode(['group' => (array) $groups, 'exclude' => $byAddr[$a] ?? null]), $msg));
    }
}

function send_to_uid($uids, $msg): void
{
    foreach (addresses() as $a) {
        send($a, packet(14, 0, json_encode((array) $uids), $msg));
    }
}

function sessions_by_group(string $g): array
{
    $out = [];
    foreach (query_all(packet(23, 0, $g, '')) as $addr => $map) {
        foreach ($map as $conn => $ser) {
            $out[make_id($addr, $conn)] = $ser === '' ? [] : unserialize($ser, ['allowed_classes' => false]);
        }
    }
    ksort($out);
    return $out;
}

function uid_list_by_group(string $g): array
{
    $out = [];
    $pkt = packet(25, 0, json_encode(['fields' => ['uid'], 'where' => ['groups' => [$g]]]), '');
    foreach (query_all($pkt) as $rows) {
        foreach ($rows as $row) {
            if (!empty($row['uid'])) {
                $out[$row['uid']] = $row['uid'];
            }
        }
    }
    ksort($out);
    return $out;
}

function client_ids_by_uid($uid): array
{
    $out = [];
    foreach (query_all(packet(15, 0, (string) $uid, '')) as $addr => $conns) {
        foreach ($conns as $n) {
            $out[] = make_id($addr, $n);
        }
    }
    sort($out);
    return $out;
}

// The chat-room flow (docs/gatewayworker.md, worked example).
$out = [];
foreach (['u1' => $A, 'u2' => $B, 7 => $C] as $uid => $cid) {
    bind_uid($cid, $uid);
    join_group($cid, 'room1');
    set_session($cid, ['uid' => $uid, 'uname' => "name$uid", 'room_id' => 'room1']);
}
update_session($A, ['prefs' => ['color' => 'red', 'sizes' => [1, 2.5]], 'away' => false]);
$out['session_A'] = get_session($A);
$out['count_room1'] = count_by_group('room1');
$out['count_all'] = count_by_group('');
$out['sessions_room1'] = sessions_by_group('room1');
$out['uids_room1'] = uid_list_by_group('room1');
$out['ids_uid7'] = client_ids_by_uid(7);
$out['online_A'] = is_online($A);
send_to_group('room1', json_encode(['type' => 'say', 'from' => 'u1', 'content' => 'hello']), [$A]);
send_to_uid(7, json_encode(['type' => 'to', 'content' => 'private']));
send_to_client($B, 'direct');
leave_group($B, 'room1');
close_client($B, json_encode(['type' => 'bye']));
$out['count_room1_after'] = count_by_group('room1');
$out['session_missing'] = get_session(make_id(split_id($A)[0], 1));
echo json_encode($out, JSON_UNESCAPED_SLASHES), "\n";
