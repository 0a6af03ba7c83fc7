<?php
// A shop's order hook (WooCommerce, Bitrix, any PHP shop): a new order becomes a lead
// in crm-server — the buyer as a contact, the order as a deal — and the deal is read
// back. Plain PHP: no extension beyond the standard HTTP stream wrapper.
//
//   CRM_URL=http://127.0.0.1:8080 CRM_KEY=crm_… php examples/php/order_hook.php
//
// Run by scripts/test-all against a live server; it prints "php: N passed, N failed".

$base = getenv('CRM_URL') ?: 'http://127.0.0.1:8080';
$key = getenv('CRM_KEY') ?: exit("set CRM_KEY to an API key\n");

/** One request: [status, decoded JSON body, content type]. */
function crm(string $method, string $path, $body = null): array {
    global $base, $key;
    $headers = "Authorization: Bearer $key\r\nContent-Type: application/json\r\n";
    $context = stream_context_create(['http' => [
        'method' => $method,
        'header' => $headers,
        'content' => $body === null ? '' : json_encode($body),
        'ignore_errors' => true,  // read problem+json bodies of 4xx/5xx too
        'timeout' => 10,
    ]]);
    $text = file_get_contents($base . $path, false, $context);
    $status = 0;
    $type = '';
    foreach ($http_response_header ?? [] as $line) {
        if (preg_match('#^HTTP/\S+ (\d{3})#', $line, $m)) { $status = (int)$m[1]; }
        if (stripos($line, 'content-type:') === 0) { $type = trim(substr($line, 13)); }
    }
    return [$status, json_decode((string)$text, true), $type];
}

$passed = 0;
$failed = 0;
function check(string $what, bool $ok, $detail = null): void {
    global $passed, $failed;
    if ($ok) { $passed++; echo "ok   $what\n"; }
    else { $failed++; echo "FAIL $what: " . json_encode($detail) . "\n"; }
}

// The shop's sales pipeline (made once by the shop's admin).
[$status, $pipelines] = crm('POST', '/v1/queries', ['type' => 'list_pipelines']);
if (($pipelines['total'] ?? 0) === 0) {
    crm('POST', '/v1/commands', ['type' => 'create_pipeline', 'name' => 'Web shop',
        'stages' => [['name' => 'New order'], ['name' => 'Paid', 'kind' => 'won'], ['name' => 'Cancelled', 'kind' => 'lost']]]);
}

// The order as the shop's hook receives it.
$order = ['number' => 1001, 'name' => 'Petra Schulz', 'phone' => '+49 30 1234567',
          'email' => 'petra@example.com', 'total' => '1250.00', 'currency' => 'EUR'];

[$status, $contact] = crm('POST', '/v1/contacts', ['name' => $order['name'],
    'phones' => [$order['phone']], 'emails' => [$order['email']], 'source' => 'web shop']);
check('the buyer becomes a contact', $status === 201 && isset($contact['id']), $contact);

[$status, $deal] = crm('POST', '/v1/deals', ['title' => "Order #{$order['number']}",
    'contact' => $contact['id'] ?? null,
    'amount' => ['amount' => $order['total'], 'currency' => $order['currency']]]);
check('the order becomes a deal', $status === 201 && isset($deal['id']), $deal);

[$status, $read] = crm('GET', '/v1/deals/' . ($deal['id'] ?? 'none'));
check('the deal reads back', $status === 200 && ($read['title'] ?? '') === 'Order #1001', $read);
check('with its buyer', ($read['contact'] ?? '') === ($contact['id'] ?? '?'), $read);
check('and its amount, exactly', ($read['amount']['amount'] ?? '') === '1250.00'
    && ($read['amount']['currency'] ?? '') === 'EUR', $read['amount'] ?? null);

// A bad phone number is refused with the engine's code and the field's path.
[$status, $problem, $type] = crm('POST', '/v1/contacts', ['name' => 'X', 'phones' => ['12']]);
check('a bad phone is a 422 problem', $status === 422 && $type === 'application/problem+json', [$status, $type]);
check('naming the field', ($problem['code'] ?? '') === 'validation' && ($problem['field'] ?? '') === 'phones[0]', $problem);

echo "php: $passed passed, $failed failed\n";
exit($failed === 0 ? 0 : 1);
